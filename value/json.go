package value

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math"
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
	switch v.kind {
	case KindNil:
		return append(b, "null"...), nil
	case KindBool:
		return strconv.AppendBool(b, v.num == 1), nil
	case KindInt:
		return strconv.AppendInt(b, int64(v.num), 10), nil
	case KindFloat:
		f := math.Float64frombits(v.num)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, &ConvertError{Msg: "cannot encode " + strconv.FormatFloat(f, 'g', -1, 64) + " as JSON"}
		}
		if f == math.Trunc(f) && math.Abs(f) < 1e15 {
			// Keep a float recognisable as one: 2.0 encodes as 2.0, not 2.
			return strconv.AppendFloat(b, f, 'f', 1, 64), nil
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	case KindString:
		return appendJSONString(b, v.str), nil
	case KindBytes:
		if utf8.ValidString(v.str) {
			return appendJSONString(b, v.str), nil
		}
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, []byte(v.str))
		return append(b, '"'), nil
	case KindList:
		b = append(b, '[')
		for i, it := range v.c.items {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = AppendJSON(b, it); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case KindMap:
		b = append(b, '{')
		for i, f := range v.c.fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, f.Key)
			b = append(b, ':')
			var err error
			if b, err = AppendJSON(b, f.Value); err != nil {
				return b, err
			}
		}
		return append(b, '}'), nil
	}
	return b, &ConvertError{Msg: "invalid value kind"}
}

func appendJSONString(b []byte, s string) []byte {
	// encoding/json's string escaping is correct for every input (invalid
	// UTF-8 becomes U+FFFD, HTML characters are escaped); reuse it.
	q, _ := json.Marshal(s)
	return append(b, q...)
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
