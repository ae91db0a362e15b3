package value

import (
	"fmt"
	"math"
	"reflect"
	"strconv"
)

// MaxDepth is how deeply lists and maps may nest in a value built by Of or
// ParseJSON. Deeper input is an error rather than a stack exhaustion.
const MaxDepth = 64

// Of converts a Go value to a Value, copying everything it refers to.
//
// It accepts nil, bool, the integer types (a uint64 above math.MaxInt64 is an
// error), float32 and float64, string, []byte, Value, and slices and maps
// with string keys of any of these (including []any and map[string]any).
// Other types, and nesting deeper than MaxDepth, are errors of type
// *ConvertError naming the path of the offending element.
func Of(x any) (Value, error) { return of(x, "", 0) }

// MustOf is Of for values known to be convertible; it panics on error.
// Use it for literals in code and tests.
func MustOf(x any) Value {
	v, err := Of(x)
	if err != nil {
		panic(err)
	}
	return v
}

func of(x any, path string, depth int) (Value, error) {
	switch t := x.(type) {
	case nil:
		return Value{}, nil
	case Value:
		return t, nil
	case bool:
		return Bool(t), nil
	case int:
		return Int(int64(t)), nil
	case int8:
		return Int(int64(t)), nil
	case int16:
		return Int(int64(t)), nil
	case int32:
		return Int(int64(t)), nil
	case int64:
		return Int(t), nil
	case uint8:
		return Int(int64(t)), nil
	case uint16:
		return Int(int64(t)), nil
	case uint32:
		return Int(int64(t)), nil
	case uint:
		return ofUint(uint64(t), path)
	case uint64:
		return ofUint(t, path)
	case float32:
		return Float(float64(t)), nil
	case float64:
		return Float(t), nil
	case string:
		return String(t), nil
	case []byte:
		return Bytes(t), nil
	}
	if depth >= MaxDepth {
		return Value{}, &ConvertError{Path: path, Msg: "nested deeper than " + strconv.Itoa(MaxDepth) + " levels"}
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		items := make([]Value, rv.Len())
		for i := range items {
			it, err := of(rv.Index(i).Interface(), path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return Value{}, err
			}
			items[i] = it
		}
		return Value{kind: KindList, c: (&compound{items: items}).measure()}, nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return Value{}, &ConvertError{Path: path, Msg: "map key type " + rv.Type().Key().String() + " is not string"}
		}
		m := make(map[string]Value, rv.Len())
		it := rv.MapRange()
		for it.Next() {
			k := it.Key().String()
			fv, err := of(it.Value().Interface(), path+"."+k, depth+1)
			if err != nil {
				return Value{}, err
			}
			m[k] = fv
		}
		return FromMap(m), nil
	}
	return Value{}, &ConvertError{Path: path, Msg: fmt.Sprintf("unsupported type %T", x)}
}

func ofUint(u uint64, path string) (Value, error) {
	if u > math.MaxInt64 {
		return Value{}, &ConvertError{Path: path, Msg: "integer " + strconv.FormatUint(u, 10) + " does not fit in 64 signed bits"}
	}
	return Int(int64(u)), nil
}

// Any returns v as plain Go data: nil, bool, int64, float64, string, []byte,
// []any and map[string]any. The result is a fresh copy the caller may modify.
func (v Value) Any() any {
	switch v.kind {
	case KindBool:
		return v.num == 1
	case KindInt:
		return int64(v.num)
	case KindFloat:
		return math.Float64frombits(v.num)
	case KindString:
		return v.str
	case KindBytes:
		return []byte(v.str)
	case KindList:
		out := make([]any, len(v.c.items))
		for i, it := range v.c.items {
			out[i] = it.Any()
		}
		return out
	case KindMap:
		out := make(map[string]any, len(v.c.fields))
		for _, f := range v.c.fields {
			out[f.Key] = f.Value.Any()
		}
		return out
	}
	return nil
}
