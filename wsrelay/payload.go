package wsrelay

import (
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

// Topics a connection process handles; any other topic is forwarded to
// the client as a {"topic": ..., "data": ...} text frame.
const (
	TopicSend    = "ws.send"
	TopicClose   = "ws.close"
	TopicControl = "ws.control"
	TopicJoin    = "ws.join"
	TopicLeave   = "ws.leave"
	TopicBeat    = "ws.heartbeat"
)

// frame is one thing to write to the client.
type frame struct {
	op     opcode
	data   []byte // read-only: it may be the bytes of a shared string (see shared)
	code   int    // close frames
	reason string // close frames
	// rest is the end of the frame's encoding that an inline write left
	// unwritten (outbox.go, writeInline): it is written as it is, before
	// anything else.
	rest []byte
}

// shared returns the bytes of s without copying them. Values are
// immutable and hold their bytes in Go strings, so the one payload a
// target sends to many clients (a ws.send or a broadcast) is held once
// however many outbound queues it waits in. Nothing may write to the
// result: the write path only reads it (it writes it to the socket as it
// is, copies a small one into a batch, or compresses from it).
func shared(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// parseSend reads a ws.send payload: {type = "text"|"binary", data = ...}.
// A plain string payload is a text frame, a byte string a binary one. Data
// that is not a string is JSON-encoded, up to max bytes: its encoding can
// be far larger than the value (a string held many times is encoded each
// time, escaping makes six bytes of one), and a frame larger than the
// client's outbound budget could only close the client.
func parseSend(v value.Value, max int) (frame, error) {
	if s, ok := v.Raw(); ok {
		op := opText
		if v.Kind() == value.KindBytes {
			op = opBinary
		}
		return checkText(frame{op: op, data: shared(s)})
	}
	if v.Kind() != value.KindMap {
		return frame{}, &PayloadError{TopicSend, "payload must be {type=..., data=...} or a string, got " + v.Kind().String()}
	}
	f := frame{op: opText}
	var data value.Value
	hasData := false
	for k, fv := range v.Fields() {
		switch k {
		case "type":
			t, _ := fv.Text()
			switch t {
			case "text":
			case "binary":
				f.op = opBinary
			default:
				return frame{}, &PayloadError{TopicSend, "type must be \"text\" or \"binary\", got " + fv.String()}
			}
		case "data":
			data, hasData = fv, true
		default:
			return frame{}, &PayloadError{TopicSend, "unknown field " + strconv.Quote(k) + " (known: type, data)"}
		}
	}
	if !hasData {
		return frame{}, &PayloadError{TopicSend, "data is missing"}
	}
	if s, ok := data.Raw(); ok {
		f.data = shared(s)
	} else {
		b, err := value.AppendJSONLimit(nil, data, max)
		if err != nil {
			return frame{}, &PayloadError{TopicSend, "data cannot be encoded as JSON: " + err.Error()}
		}
		f.data = b
	}
	return checkText(f)
}

func checkText(f frame) (frame, error) {
	if f.op == opText && !utf8.Valid(f.data) {
		return frame{}, &PayloadError{TopicSend, "text data is not valid UTF-8 (send it with type = \"binary\")"}
	}
	return f, nil
}

// topicFrame is the text frame for a message of any other topic, of at
// most max bytes (see parseSend).
func topicFrame(topic string, payload value.Value, max int) (frame, error) {
	b := append([]byte(`{"topic":`), strconv.Quote(topic)...)
	b = append(b, `,"data":`...)
	b, err := value.AppendJSONLimit(b, payload, max-1) // and the closing '}'

	if err != nil {
		return frame{}, &PayloadError{topic, "payload cannot be encoded as JSON: " + err.Error()}
	}
	return frame{op: opText, data: append(b, '}')}, nil
}

// parseClose reads a ws.close payload: {code = 1000, reason = "..."}, both
// optional, or the reason alone as a string (the original runtime's form),
// closing with 1000. Codes that may not be sent become 1000 (fixed
// reports it); reasons longer than the protocol allows are cut at a UTF-8
// boundary.
func parseClose(v value.Value) (code int, reason string, fixed bool, err error) {
	code = 1000
	if v.IsNil() {
		return code, "", false, nil
	}
	if s, ok := v.Text(); ok {
		return code, TruncateReason(s), false, nil
	}
	if v.Kind() != value.KindMap {
		return 0, "", false, &PayloadError{TopicClose, "payload must be {code=..., reason=...}, a reason string or nil, got " + v.Kind().String()}
	}
	for k, fv := range v.Fields() {
		switch k {
		case "code":
			n, ok := fv.Number()
			if !ok || n != float64(int(n)) {
				return 0, "", false, &PayloadError{TopicClose, "code must be an integer, got " + fv.String()}
			}
			code = int(n)
		case "reason":
			s, ok := fv.Text()
			if !ok {
				return 0, "", false, &PayloadError{TopicClose, "reason must be a string, got " + fv.String()}
			}
			reason = s
		default:
			return 0, "", false, &PayloadError{TopicClose, "unknown field " + strconv.Quote(k) + " (known: code, reason)"}
		}
	}
	if !SendableCode(code) {
		code, fixed = 1000, true
	}
	return code, TruncateReason(reason), fixed, nil
}

// SendableCode reports whether a close code may be sent in a close frame
// (RFC 6455 7.4: 1000–1003, 1007–1014, and 3000–4999).
func SendableCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// MaxReason is the longest close reason in bytes (a control frame holds
// 125 bytes, two of them the code).
const MaxReason = 123

// TruncateReason cuts a close reason to MaxReason bytes at a UTF-8
// boundary; invalid UTF-8 is replaced, since a close reason must be text.
func TruncateReason(s string) string {
	if !utf8.ValidString(s) {
		s = toValidUTF8(s)
	}
	if len(s) <= MaxReason {
		return s
	}
	i := MaxReason
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

func toValidUTF8(s string) string {
	b := make([]byte, 0, len(s))
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && n == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[:n]...)
		}
		s = s[n:]
	}
	return string(b)
}

// control is a parsed ws.control payload; nil fields are left as they are.
type control struct {
	target    *pid.PID
	topic     *string
	metadata  *value.Value
	heartbeat *time.Duration
	// unknown lists the fields the relay does not know (at most
	// maxUnknownFields, each cut to 64 bytes): the others are applied, and
	// these are logged.
	unknown []string
}

// maxUnknownFields bounds the unknown field names a control reports.
const maxUnknownFields = 8

// parseControl reads a ws.control payload: target_pid, message_topic,
// metadata, heartbeat_interval, all optional. A field it does not know
// does not stop the others: a newer runtime's control still moves the
// client; the field is reported in unknown. A known field with a bad
// value is an error, and nothing is applied.
func parseControl(v value.Value) (control, error) {
	if v.Kind() != value.KindMap {
		return control{}, &PayloadError{TopicControl, "payload must be a table of target_pid, message_topic, metadata, heartbeat_interval; got " + v.Kind().String()}
	}
	var c control
	for k, fv := range v.Fields() {
		var err error
		switch k {
		case "target_pid":
			var p pid.PID
			if p, err = parseTarget(fv); err == nil {
				c.target = &p
			}
		case "message_topic":
			var t string
			if t, err = parseTopic(fv); err == nil {
				c.topic = &t
			}
		case "metadata":
			var m value.Value
			if m, err = parseMetadata(fv); err == nil {
				c.metadata = &m
			}
		case "heartbeat_interval":
			var d time.Duration
			if d, err = parseInterval(fv); err == nil {
				c.heartbeat = &d
			}
		default:
			if len(c.unknown) < maxUnknownFields {
				c.unknown = append(c.unknown, logClip(k))
			}
		}
		if err != nil {
			return control{}, &PayloadError{TopicControl, k + ": " + err.Error()}
		}
	}
	return c, nil
}

// clientPayload is the payload of a client frame sent to the target: the
// table {client_pid, data, metadata, type}, or with raw (the original
// runtime's form, chosen per route or per X-WS-Relay header) the frame's
// data alone, a string or bytes, whose sender is the client.
func clientPayload(raw bool, client, data, metadata, typ value.Value) value.Value {
	if raw {
		return data
	}
	// The fields in key order: value.Map then has nothing to sort.
	return value.Map(
		value.Field{Key: "client_pid", Value: client},
		value.Field{Key: "data", Value: data},
		value.Field{Key: "metadata", Value: metadata},
		value.Field{Key: "type", Value: typ},
	)
}
