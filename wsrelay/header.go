package wsrelay

import (
	"strconv"
	"strings"
	"time"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

// HeaderName is the response header a handler sets to ask for a relay.
const HeaderName = "X-WS-Relay"

// MaxMetadataBytes bounds a connection's metadata (the X-WS-Relay header's
// or a ws.control's), measured as its binary encoding (value.BinarySize):
// it rides on every message to the target, and the ws.leave a client on
// another node leaves with its target (process.MaxNoticeBytes, 64 KiB)
// must hold it. 32 KiB.
const MaxMetadataBytes = 32 << 10

// DefaultTopic is the topic of client frames unless the header names one.
const DefaultTopic = "ws.message"

// Header is a parsed X-WS-Relay header.
type Header struct {
	Target pid.PID
	// Topic is the topic of client frames sent to the target.
	Topic string
	// Heartbeat is how often ws.heartbeat is sent; 0 means never.
	Heartbeat time.Duration
	// Metadata is attached to every message sent to the target: always a
	// map (empty when the header had none).
	Metadata value.Value
	// RawPayload sends client frames to the target as their data alone (a
	// string or bytes), as the original runtime does, instead of the table
	// {client_pid, data, metadata, type}. Default false.
	RawPayload bool
}

// ParseHeader reads an X-WS-Relay header. Errors are *HeaderError.
func ParseHeader(s string) (Header, error) {
	if strings.TrimSpace(s) == "" {
		// A handler that sets the header asks for a relay: an empty value
		// is a bug of the handler's, not a response to pass through.
		return Header{}, &HeaderError{Msg: "empty: it must be a JSON object with target_pid"}
	}
	v, err := value.ParseJSON([]byte(s))
	if err != nil {
		return Header{}, &HeaderError{Msg: "not JSON: " + strings.TrimPrefix(err.Error(), "value: ")}
	}
	if v.Kind() != value.KindMap {
		return Header{}, &HeaderError{Msg: "must be a JSON object, got " + v.Kind().String()}
	}
	h := Header{Topic: DefaultTopic, Metadata: emptyMap}
	target := false
	for k, f := range v.Fields() {
		switch k {
		case "target_pid":
			p, err := parseTarget(f)
			if err != nil {
				return Header{}, &HeaderError{Field: k, Msg: err.Error()}
			}
			h.Target, target = p, true
		case "message_topic":
			t, err := parseTopic(f)
			if err != nil {
				return Header{}, &HeaderError{Field: k, Msg: err.Error()}
			}
			h.Topic = t
		case "heartbeat_interval":
			d, err := parseInterval(f)
			if err != nil {
				return Header{}, &HeaderError{Field: k, Msg: err.Error()}
			}
			h.Heartbeat = d
		case "metadata":
			m, err := parseMetadata(f)
			if err != nil {
				return Header{}, &HeaderError{Field: k, Msg: err.Error()}
			}
			h.Metadata = m
		case "raw_payload":
			b, ok := f.Bool()
			if !ok {
				return Header{}, &HeaderError{Field: k, Msg: "must be true or false, got " + f.Kind().String()}
			}
			h.RawPayload = b
		default:
			return Header{}, &HeaderError{Field: k, Msg: "unknown field (known: target_pid, message_topic, heartbeat_interval, metadata, raw_payload)"}
		}
	}
	if !target {
		return Header{}, &HeaderError{Field: "target_pid", Msg: "missing"}
	}
	return h, nil
}

var emptyMap = value.Map()

type fieldError string

func (e fieldError) Error() string { return string(e) }

func parseTarget(v value.Value) (pid.PID, error) {
	s, ok := v.Text()
	if !ok {
		return pid.PID{}, fieldError("must be a PID string like \"{node@host|42}\", got " + v.Kind().String())
	}
	p, err := pid.Parse(s)
	if err != nil {
		return pid.PID{}, err
	}
	return p, nil
}

func parseTopic(v value.Value) (string, error) {
	s, ok := v.Text()
	switch {
	case !ok:
		return "", fieldError("must be a string, got " + v.Kind().String())
	case s == "":
		return "", fieldError("must not be empty")
	case s[0] == '@':
		return "", fieldError("topics starting with '@' are reserved")
	}
	return s, nil
}

// parseInterval reads a duration string; "0s" (or "0") means none.
func parseInterval(v value.Value) (time.Duration, error) {
	s, ok := v.Text()
	if !ok {
		return 0, fieldError("must be a duration string like \"30s\", got " + v.Kind().String())
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fieldError("\"" + s + "\" is not a duration like \"30s\" or \"500ms\"")
	case d < 0:
		return 0, fieldError("must not be negative")
	case d > 0 && d < 10*time.Millisecond:
		return 0, fieldError("must be at least 10ms (or 0s for none)")
	}
	return d, nil
}

// parseMetadata accepts an object, or null or an empty array (what an
// empty Lua table may encode to) for none.
func parseMetadata(v value.Value) (value.Value, error) {
	switch {
	case v.Kind() == value.KindMap:
		if size := value.BinarySize(v); size > MaxMetadataBytes {
			return value.Value{}, fieldError("is " + strconv.Itoa(size) + " bytes encoded, at most " + strconv.Itoa(MaxMetadataBytes))
		}
		return v, nil
	case v.IsNil(), v.Kind() == value.KindList && v.Len() == 0:
		return emptyMap, nil
	}
	return value.Value{}, fieldError("must be an object, got " + v.Kind().String())
}

// String returns the header's JSON text, for Go handlers:
//
//	w.Header().Set(wsrelay.HeaderName, wsrelay.Header{Target: p}.String())
func (h Header) String() string {
	fields := []value.Field{{Key: "target_pid", Value: value.String(h.Target.String())}}
	if h.Topic != "" {
		fields = append(fields, value.Field{Key: "message_topic", Value: value.String(h.Topic)})
	}
	if h.Heartbeat > 0 {
		fields = append(fields, value.Field{Key: "heartbeat_interval", Value: value.String(h.Heartbeat.String())})
	}
	if h.Metadata.Kind() == value.KindMap {
		fields = append(fields, value.Field{Key: "metadata", Value: h.Metadata})
	}
	return value.Map(fields...).String()
}
