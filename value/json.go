package value

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendJSON appends the JSON encoding of v to b.
//
// Strings are JSON strings; a byte string is a JSON string of its bytes when
// they are valid UTF-8, and of their standard base64 encoding otherwise (JSON
// cannot hold arbitrary bytes). Maps are objects with keys in sorted order.
// NaN and infinite floats cannot be encoded and give an error.
func AppendJSON(b []byte, v Value) ([]byte, error) {
	return AppendJSONLimit(b, v, math.MaxInt)
}

// AppendJSONLimit is AppendJSON that stops, with an error matching
// ErrTooLarge, before b would grow past max bytes. A value can encode to
// far more than its Size: a string held many times is encoded each time,
// and escaping makes up to six bytes of one. The bound is checked before
// each piece is appended (the exact length of an escaped string is
// counted first), so b never holds more than max bytes, and the work done
// is bounded by max too: every value visited appends at least one byte.
func AppendJSONLimit(b []byte, v Value, max int) ([]byte, error) {
	e := jsonEncoder{b: b, max: max}
	err := e.value(v)
	return e.b, err
}

type jsonEncoder struct {
	b   []byte
	max int
}

// room reports whether n more bytes fit under the bound, and makes room
// for them: the buffer doubles, up to the bound (append's own growth, by a
// quarter for large slices, would allocate five times the final size).
func (e *jsonEncoder) room(n int) error {
	if n > e.max-len(e.b) {
		return &TooLargeError{Max: e.max}
	}
	if n > cap(e.b)-len(e.b) {
		c := max(2*cap(e.b), len(e.b)+n, 64)
		if c > e.max || c < 0 {
			c = e.max
		}
		e.b = slices.Grow(e.b, c-len(e.b))
	}
	return nil
}

func (e *jsonEncoder) raw(s string) error {
	if err := e.room(len(s)); err != nil {
		return err
	}
	e.b = append(e.b, s...)
	return nil
}

func (e *jsonEncoder) value(v Value) error {
	switch v.kind {
	case KindNil:
		return e.raw("null")
	case KindBool:
		if v.num == 1 {
			return e.raw("true")
		}
		return e.raw("false")
	case KindInt, KindFloat:
		// A number is at most 24 bytes: check that, then append.
		if err := e.room(32); err != nil {
			return err
		}
		if v.kind == KindInt {
			e.b = strconv.AppendInt(e.b, int64(v.num), 10)
			return nil
		}
		f := math.Float64frombits(v.num)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return &ConvertError{Msg: "cannot encode " + strconv.FormatFloat(f, 'g', -1, 64) + " as JSON"}
		}
		if f == math.Trunc(f) && math.Abs(f) < 1e15 {
			// Keep a float recognisable as one: 2.0 encodes as 2.0, not 2.
			e.b = strconv.AppendFloat(e.b, f, 'f', 1, 64)
			return nil
		}
		e.b = strconv.AppendFloat(e.b, f, 'g', -1, 64)
		return nil
	case KindString:
		return e.string(v.str)
	case KindBytes:
		if utf8.ValidString(v.str) {
			return e.string(v.str)
		}
		if err := e.room(2 + base64.StdEncoding.EncodedLen(len(v.str))); err != nil {
			return err
		}
		e.b = append(e.b, '"')
		e.b = base64.StdEncoding.AppendEncode(e.b, []byte(v.str))
		e.b = append(e.b, '"')
		return nil
	case KindList:
		if err := e.raw("["); err != nil {
			return err
		}
		for i, it := range v.c.items {
			if i > 0 {
				if err := e.raw(","); err != nil {
					return err
				}
			}
			if err := e.value(it); err != nil {
				return err
			}
		}
		return e.raw("]")
	case KindMap:
		if err := e.raw("{"); err != nil {
			return err
		}
		for i, f := range v.c.fields {
			if i > 0 {
				if err := e.raw(","); err != nil {
					return err
				}
			}
			if err := e.string(f.Key); err != nil {
				return err
			}
			if err := e.raw(":"); err != nil {
				return err
			}
			if err := e.value(f.Value); err != nil {
				return err
			}
		}
		return e.raw("}")
	}
	return &ConvertError{Msg: "invalid value kind"}
}

// string appends s as a JSON string, escaped as encoding/json escapes it
// (invalid UTF-8 becomes U+FFFD; <, >, &, U+2028 and U+2029 are escaped),
// after checking that its exact length fits.
// A string that does not fit is written as far as it fits, without its
// closing quote, before the error: a caller that shows a cut text (a log
// line) shows what there was room for.
func (e *jsonEncoder) string(s string) error {
	if err := e.room(jsonStringLen(s)); err != nil {
		free := e.max - len(e.b) - 1 // the opening quote
		n := 0                       // bytes of s that fit, escaped
		for i := 0; i < len(s) && free > 0; {
			r, size := utf8.DecodeRuneInString(s[i:])
			w := size
			switch {
			case r < utf8.RuneSelf:
				w = asciiEscapeLen(s[i])
			case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
				w = 6
			}
			if w > free {
				break
			}
			free -= w
			i += size
			n = i
		}
		if free >= 0 && len(e.b) < e.max {
			// At most the bound, plus the closing quote dropped below.
			b := AppendJSONString(slices.Grow(e.b, e.max+1-len(e.b)), s[:n])
			e.b = b[:len(b)-1]
		}
		return err
	}
	e.b = AppendJSONString(e.b, s)
	return nil
}

const hexDigits = "0123456789abcdef"

// jsonStringLen is the length of AppendJSONString(nil, s).
func jsonStringLen(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			n += asciiEscapeLen(c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
		}
		i += size
	}
	return n
}

// asciiEscapeLen is how many bytes the ASCII byte c takes in a JSON string.
func asciiEscapeLen(c byte) int {
	switch {
	case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
		return 2
	case c < 0x20 || c == '<' || c == '>' || c == '&':
		return 6
	}
	return 1
}

// AppendJSONString appends s to b as a JSON string, escaped as
// encoding/json escapes it.
func AppendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if asciiEscapeLen(c) == 1 {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// MarshalJSON implements json.Marshaler with AppendJSON's rules.
func (v Value) MarshalJSON() ([]byte, error) { return AppendJSON(nil, v) }

// String returns the JSON text of v, or a description of why it has none.
func (v Value) String() string {
	b, err := AppendJSON(nil, v)
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

// ParseJSON decodes one JSON document into a Value. Numbers without a
// fraction or exponent that fit in 64 bits are integers, others are floats.
// Nesting deeper than MaxDepth and trailing data are errors.
func ParseJSON(data []byte) (Value, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := parseJSON(dec, 0)
	if err != nil {
		return Value{}, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return Value{}, errors.New("value: invalid JSON: data after the top-level value")
	}
	return v, nil
}

// UnmarshalJSON implements json.Unmarshaler with ParseJSON's rules.
func (v *Value) UnmarshalJSON(data []byte) error {
	p, err := ParseJSON(data)
	if err != nil {
		return err
	}
	*v = p
	return nil
}

func parseJSON(dec *json.Decoder, depth int) (Value, error) {
	tok, err := dec.Token()
	if err != nil {
		return Value{}, jsonErr(err)
	}
	switch t := tok.(type) {
	case nil:
		return Value{}, nil
	case bool:
		return Bool(t), nil
	case string:
		return String(t), nil
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return Int(i), nil
		}
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil {
			return Value{}, errors.New("value: invalid JSON: number " + string(t) + " is out of range")
		}
		return Float(f), nil
	case json.Delim:
		if depth >= MaxDepth {
			return Value{}, errors.New("value: invalid JSON: nested deeper than " + strconv.Itoa(MaxDepth) + " levels")
		}
		if t == '[' {
			var items []Value
			for dec.More() {
				it, err := parseJSON(dec, depth+1)
				if err != nil {
					return Value{}, err
				}
				items = append(items, it)
			}
			if _, err := dec.Token(); err != nil {
				return Value{}, jsonErr(err)
			}
			return Value{kind: KindList, c: (&compound{items: items}).measure()}, nil
		}
		m := make(map[string]Value)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return Value{}, jsonErr(err)
			}
			fv, err := parseJSON(dec, depth+1)
			if err != nil {
				return Value{}, err
			}
			m[kt.(string)] = fv
		}
		if _, err := dec.Token(); err != nil {
			return Value{}, jsonErr(err)
		}
		return FromMap(m), nil
	}
	return Value{}, errors.New("value: invalid JSON")
}

func jsonErr(err error) error {
	if err == io.EOF {
		return errors.New("value: invalid JSON: unexpected end of input")
	}
	return errors.New("value: invalid JSON: " + err.Error())
}
