package luart

import (
	"math"
	"strconv"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/value"
)

// Conversion rules between Lua values and payload values:
//
//   - nil, booleans and strings map to themselves. A Lua string that is
//     valid UTF-8 becomes a text string, any other a byte string; both kinds
//     come back to Lua as the same bytes.
//   - A number with no fraction that fits in 64 bits becomes an integer,
//     any other a float. Lua numbers are float64, so integers beyond ±2^53
//     lose precision on their way into Lua.
//   - A table whose keys are exactly 1..n is a list. Any other table is a map
//     and must have string keys. An empty table is an empty map.
//   - Functions, userdata, threads and channels, non-string map keys,
//     cycles, and nesting deeper than value.MaxDepth are errors.

// toValue converts a Lua value to a payload value.
func toValue(lv lua.LValue) (value.Value, error) {
	return toValueAt(lv, "", 0, nil)
}

func toValueAt(lv lua.LValue, path string, depth int, seen map[*lua.LTable]bool) (value.Value, error) {
	switch v := lv.(type) {
	case *lua.LNilType:
		return value.Nil(), nil
	case lua.LBool:
		return value.Bool(bool(v)), nil
	case lua.LNumber:
		return numberValue(float64(v)), nil
	case lua.LString:
		if utf8.ValidString(string(v)) {
			return value.String(string(v)), nil
		}
		return value.BytesString(string(v)), nil
	case *lua.LTable:
		return tableValue(v, path, depth, seen)
	}
	return value.Value{}, &ConvertError{Path: path, Msg: "a " + lv.Type().String() + " cannot be sent as a value"}
}

func numberValue(f float64) value.Value {
	if f == math.Trunc(f) && f >= -9.223372036854775e18 && f < 9.223372036854775e18 {
		return value.Int(int64(f))
	}
	return value.Float(f)
}

func tableValue(t *lua.LTable, path string, depth int, seen map[*lua.LTable]bool) (value.Value, error) {
	if depth >= value.MaxDepth {
		return value.Value{}, &ConvertError{Path: path, Msg: "tables nested deeper than " + strconv.Itoa(value.MaxDepth) + " levels"}
	}
	if seen[t] {
		return value.Value{}, &ConvertError{Path: path, Msg: "the table contains itself (a cycle)"}
	}
	if seen == nil {
		seen = make(map[*lua.LTable]bool)
	}
	seen[t] = true
	defer delete(seen, t)

	if n := t.Len(); n > 0 && isList(t, n) {
		items := make([]value.Value, n)
		for i := 1; i <= n; i++ {
			it, err := toValueAt(t.RawGetInt(i), path+"["+strconv.Itoa(i)+"]", depth+1, seen)
			if err != nil {
				return value.Value{}, err
			}
			items[i-1] = it
		}
		return value.List(items...), nil
	}
	var fields []value.Field
	var err error
	t.ForEach(func(k, v lua.LValue) {
		if err != nil {
			return
		}
		ks, ok := k.(lua.LString)
		if !ok {
			err = &ConvertError{Path: path, Msg: "a map key must be a string, got the " + k.Type().String() + " " + k.String()}
			return
		}
		var fv value.Value
		fv, err = toValueAt(v, path+"."+string(ks), depth+1, seen)
		fields = append(fields, value.Field{Key: string(ks), Value: fv})
	})
	if err != nil {
		return value.Value{}, err
	}
	return value.Map(fields...), nil
}

// isList reports whether t's keys are exactly 1..n.
func isList(t *lua.LTable, n int) bool {
	count := 0
	list := true
	t.ForEach(func(k, _ lua.LValue) {
		count++
		if num, ok := k.(lua.LNumber); !ok || float64(num) != math.Trunc(float64(num)) || num < 1 || int(num) > n {
			list = false
		}
	})
	return list && count == n
}

// toLua converts a payload value to a new Lua value.
func toLua(L *lua.LState, v value.Value) lua.LValue {
	switch v.Kind() {
	case value.KindBool:
		b, _ := v.Bool()
		return lua.LBool(b)
	case value.KindInt:
		i, _ := v.Int()
		return lua.LNumber(i)
	case value.KindFloat:
		f, _ := v.Float()
		return lua.LNumber(f)
	case value.KindString, value.KindBytes:
		s, _ := v.Raw()
		return lua.LString(s)
	case value.KindList:
		t := L.CreateTable(v.Len(), 0)
		for _, it := range v.Items() {
			t.Append(toLua(L, it))
		}
		return t
	case value.KindMap:
		t := L.CreateTable(0, v.Len())
		for k, fv := range v.Fields() {
			t.RawSetString(k, toLua(L, fv))
		}
		return t
	}
	return lua.LNil
}
