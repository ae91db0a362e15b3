package pid

import (
	"errors"
	"strconv"
)

// ErrSyntax is matched (with errors.Is) by every *SyntaxError.
var ErrSyntax = errors.New("invalid pid")

// SyntaxError is returned by Parse for malformed input.
type SyntaxError struct {
	Input string // the text that was parsed
	Msg   string // what is wrong with it
}

func (e *SyntaxError) Error() string {
	return "invalid pid " + strconv.Quote(e.Input) + ": " + e.Msg
}

// Is makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// NameError reports a node or host name that cannot appear in a PID.
type NameError struct {
	Kind string // "node" or "host"
	Name string
	Msg  string
}

func (e *NameError) Error() string { return "invalid " + e.Kind + " name: " + e.Msg }
