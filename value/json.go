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
// in one pass that checks the bound before each piece it appends. A
// string that does not fit is written as far as it fits (whole runes),
// without its closing quote, before the error: a caller that shows a cut
// text (a log line) shows what there was room for.
func (e *jsonEncoder) string(s string) error {
	if err := e.raw(`"`); err != nil {
		return err
	}
	start := 0 // s[start:i] is to be copied as it is
	flush := func(i int) error {
		if err := e.room(i - start); err != nil {
			n := e.max - len(e.b)
			for n > 0 && !utf8.RuneStart(s[start+n]) {
				n--
			}
			e.b = append(e.b, s[start:start+n]...)
			return err
		}
		e.b = append(e.b, s[start:i]...)
		return nil
	}
	for i := 0; i < len(s); {
		c := s[i]
		var esc string
		size := 1
		if c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			esc = asciiEscape(c)
		} else {
			var r rune
			r, size = utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				esc = `\ufffd`
			case r == '\u2028':
				esc = `\u2028`
			case r == '\u2029':
				esc = `\u2029`
			default:
				i += size
				continue
			}
		}
		if err := flush(i); err != nil {
			return err
		}
		if err := e.raw(esc); err != nil {
			return err
		}
		i += size
		start = i
	}
	if err := flush(len(s)); err != nil {
		return err
	}
	return e.raw(`"`)
}

// jsonSafe marks the ASCII bytes a JSON string holds as they are.
var jsonSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\\<>&` {
		t[c] = false
	}
	return t
}()

// asciiEscape is the escape of an ASCII byte that is not jsonSafe.
func asciiEscape(c byte) string { return asciiEscapes[c] }

var asciiEscapes = func() (t [utf8.RuneSelf]string) {
	for c := range t {
		if c < 0x20 || !jsonSafe[c] {
			t[c] = `\u00` + string(hexDigits[c>>4]) + string(hexDigits[c&0xF])
		}
	}
	t['"'], t['\\'] = `\"`, `\\`
	t['\n'], t['\r'], t['\t'], t['\b'], t['\f'] = `\n`, `\r`, `\t`, `\b`, `\f`
	return t
}()

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s to b as a JSON string, escaped as
// encoding/json escapes it.
func AppendJSONString(b []byte, s string) []byte {
	e := jsonEncoder{b: b, max: math.MaxInt}
	_ = e.string(s) // no bound: no error
	return e.b
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
