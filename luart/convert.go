package luart

import (
	"math"
	"strconv"
	"strings"
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
//   - So is a value over MaxValueSize bytes (value.Size) once converted: a
//     table that appears several times is copied each time, so a few
//     small tables that hold each other twice over would make 2^40
//     values.

// MaxValueSize bounds what one conversion from Lua makes, in value.Size
// bytes: 64 MiB, as much as a process's Lua state may hold by default.
const MaxValueSize = 64 << 20

// toValue converts a Lua value to a payload value.
func toValue(lv lua.LValue) (value.Value, error) {
	var buf [4]level
	return toValueAt(lv, buf[:0])
}

// level is one table that holds the value being converted, and the key
// (or list index) in it that leads there. The levels of a conversion live
// in one slice on its stack, and become a path string only for an error,
// so a conversion that succeeds builds no paths.
type level struct {
	t   *lua.LTable
	key string // a map key, when idx is 0
	idx int    // a list index (from 1)
}

// pathOf is the path the levels lead to, like ".items[2]"; empty at the top.
func pathOf(levels []level) string {
	var b strings.Builder
	for _, l := range levels {
		if l.idx > 0 {
			b.WriteString("[" + strconv.Itoa(l.idx) + "]")
		} else {
			b.WriteString("." + l.key)
		}
	}
	return b.String()
}

// toValueAt converts lv, which the tables of parents hold (outermost
// first).
func toValueAt(lv lua.LValue, parents []level) (value.Value, error) {
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
		return tableValue(v, parents)
	}
	return value.Value{}, &ConvertError{Path: pathOf(parents), Msg: "a " + lv.Type().String() + " cannot be sent as a value"}
}

func numberValue(f float64) value.Value {
	if f == math.Trunc(f) && f >= -9.223372036854775e18 && f < 9.223372036854775e18 {
		return value.Int(int64(f))
	}
	return value.Float(f)
}

// small is how many items or fields a table may have for its conversion
// to gather them on the stack (value.List and value.Map copy them).
const small = 8

func tableValue(t *lua.LTable, parents []level) (value.Value, error) {
	if len(parents) >= value.MaxDepth {
		return value.Value{}, &ConvertError{Path: pathOf(parents), Msg: "tables nested deeper than " + strconv.Itoa(value.MaxDepth) + " levels"}
	}
	for _, p := range parents {
		if p.t == t {
			return value.Value{}, &ConvertError{Path: pathOf(parents), Msg: "the table contains itself (a cycle)"}
		}
	}
	levels := append(parents, level{t: t})
	here := &levels[len(levels)-1]

	if n := t.Len(); n > 0 && isList(t, n) {
		var buf [small]value.Value
		items := buf[:0]
		if n > small {
			items = make([]value.Value, 0, n)
		}
		for i := 1; i <= n; i++ {
			here.idx = i
			it, err := toValueAt(t.RawGetInt(i), levels)
			if err != nil {
				return value.Value{}, err
			}
			items = append(items, it)
		}
		return sized(value.List(items...), parents)
	}
	// Next hands out the table's own keys (ForEach would box each string
	// key anew): same entries, no allocation.
	var buf [small]value.Field
	fields := buf[:0]
	for k, v := t.Next(lua.LNil); k != lua.LNil; k, v = t.Next(k) {
		ks, ok := k.(lua.LString)
		if !ok {
			return value.Value{}, &ConvertError{Path: pathOf(parents), Msg: "a map key must be a string, got the " + k.Type().String() + " " + k.String()}
		}
		here.key = string(ks)
		fv, err := toValueAt(v, levels)
		if err != nil {
			return value.Value{}, err
		}
		fields = append(fields, value.Field{Key: string(ks), Value: fv})
	}
	return sized(value.Map(fields...), parents)
}

// sized returns v, the conversion of a table held by parents, or an error
// when it is over MaxValueSize. Checked at every table, it stops a
// conversion after making at most about that much.
func sized(v value.Value, parents []level) (value.Value, error) {
	if v.Size() > MaxValueSize {
		return value.Value{}, &ConvertError{Path: pathOf(parents), Msg: "the value would be over " + strconv.Itoa(MaxValueSize>>20) + " MiB once copied (a table that appears more than once is copied each time)"}
	}
	return v, nil
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
		switch s {
		// The relay's frame types: a constant needs no allocation.
		case "text":
			return lua.LString("text")
		case "binary":
			return lua.LString("binary")
		}
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
			if !fv.IsNil() { // a nil field is no field (the relay's metadata often is)
				t.RawSetString(k, toLua(L, fv))
			}
		}
		return t
	}
	return lua.LNil
}
