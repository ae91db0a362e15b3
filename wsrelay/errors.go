package wsrelay

import (
	"errors"
	"fmt"
)

// Errors of the relay. Match with errors.Is.
var (
	// ErrHeader: the X-WS-Relay header is malformed. The error is a *HeaderError.
	ErrHeader = errors.New("invalid X-WS-Relay header")
	// ErrPayload: a message to a client PID has a payload the relay cannot use.
	ErrPayload = errors.New("invalid payload")
	// ErrClosed is matched by the exit error of a connection process that
	// ended abnormally (timeout, slow_consumer, error, target failed). The
	// error is a *CloseError.
	ErrClosed = errors.New("websocket closed")
)

// HeaderError reports what is wrong with an X-WS-Relay header.
type HeaderError struct {
	Field string // e.g. "target_pid"; empty for the header as a whole
	Msg   string
}

func (e *HeaderError) Error() string {
	if e.Field == "" {
		return "invalid X-WS-Relay header: " + e.Msg
	}
	return "invalid X-WS-Relay header: " + e.Field + ": " + e.Msg
}

// Is makes errors.Is(err, ErrHeader) true.
func (e *HeaderError) Is(target error) bool { return target == ErrHeader }

// PayloadError reports an unusable payload sent to a client PID.
type PayloadError struct {
	Topic string
	Msg   string
}

func (e *PayloadError) Error() string { return e.Topic + ": " + e.Msg }

// Is makes errors.Is(err, ErrPayload) true.
func (e *PayloadError) Is(target error) bool { return target == ErrPayload }

// CloseError is how a connection process ended abnormally: the reason (as
// in ws.leave) and the close code, when one is known.
type CloseError struct {
	Reason string
	Code   int
	Detail string
}

func (e *CloseError) Error() string {
	s := "websocket closed: " + e.Reason
	if e.Code != 0 {
		s += fmt.Sprintf(" (code %d)", e.Code)
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is makes errors.Is(err, ErrClosed) true.
func (e *CloseError) Is(target error) bool { return target == ErrClosed }
