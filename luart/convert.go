package luart

import (
	"math"
	"strconv"
	"strings"
	"time"
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
//   - So is a value over MaxValueSize bytes (value.Size) once converted,
//     or over the memory budget of the state converting it: a table that
//     appears several times is copied each time, so a few small tables
//     that hold each other twice over would make 2^40 values. The size is
//     computed before anything is copied (sizer).

// MaxValueSize bounds what one conversion from Lua makes, in value.Size
// bytes: 64 MiB, as much as a process's Lua state may hold by default.
// A conversion for a state with a smaller memory budget is bounded by the
// budget (toValueIn).
const MaxValueSize = 64 << 20

// toValue converts a Lua value to a payload value of at most MaxValueSize
// bytes.
func toValue(lv lua.LValue) (value.Value, error) {
	v, _, err := convert(nil, lv, MaxValueSize)
	return v, err
}

// toValueIn converts a Lua value for a Go function L's code called: the
// value is bounded by L's memory budget as well, and what the copy
// allocates is charged to it (a Lua error when it does not fit).
func toValueIn(L *lua.LState, lv lua.LValue) (value.Value, error) {
	v, _, err := convert(L, lv, valueBound(L))
	return v, err
}

// valueBound is the largest value a conversion for L makes: MaxValueSize,
// or L's memory budget when that is smaller.
func valueBound(L *lua.LState) int {
	max := MaxValueSize
	if lm := L.Limits(); lm != nil && lm.MaxBytes > 0 && lm.MaxBytes < int64(max) {
		max = int(lm.MaxBytes)
	}
	return max
}

// convert checks lv and computes the size of its copy first (sizer), and
// copies it only when that is at most max bytes and, for a state L, fits
// in L's budget (L.CheckAlloc raises the memory error otherwise). So a
// value is refused before any of it is built, in work bounded by the
// tables of lv (each measured once), not by the size of its copy. It
// also returns the bytes the copy allocates (its lists and maps: strings
// are shared, not copied).
func convert(L *lua.LState, lv lua.LValue, max int) (value.Value, int, error) {
	m := sizer{L: L, max: max, steps: CheckEvery}
	var buf [4]level
	size, copied, _, err := m.size(lv, buf[:0])
	if err != nil {
		return value.Value{}, 0, err
	}
	if size > max {
		return value.Value{}, 0, tooLarge(nil, max)
	}
	if L != nil {
		L.CheckAlloc(copied)
	}
	v, err := toValueAt(lv, buf[:0])
	return v, copied, err
}

func tooLarge(parents []level, max int) error {
	limit := strconv.Itoa(max) + " bytes"
	if max%(1<<20) == 0 {
		limit = strconv.Itoa(max>>20) + " MiB"
	}
	return &ConvertError{Path: pathOf(parents), Msg: "the value would be over " + limit + " once copied (a table that appears more than once is copied each time)"}
}

// sizer computes the value.Size of a Lua value's conversion, and checks
// what the conversion would refuse (functions, non-string keys, cycles,
// nesting), without making anything.
//
// Bounded work: a table's size is computed once and remembered (memo), so
// a table held many times costs one look-up each further time, and the
// work is linear in the tables and entries of the value, however many
// times its copy would repeat them (41 tables holding each other twice are
// 2^40 values once copied, and 41 entries here). Sizes are capped just
// past max, so they never overflow. The recursion is as deep as the
// nesting, at most value.MaxDepth levels; every CheckEvery steps a state's
// context is checked (checkStop).
type sizer struct {
	L     *lua.LState
	max   int
	steps int
	small [8]tableSize // the first tables measured; most values have few
	n     int
	memo  map[*lua.LTable]tableSize // the others
}

// tableSize is what sizer remembers of a table measured.
type tableSize struct {
	t      *lua.LTable
	size   int // value.Size of its conversion, capped
	copied int // the same without the bytes of strings (shared, not copied)
	height int // levels of tables from it down, itself included
}

func (m *sizer) lookup(t *lua.LTable) (tableSize, bool) {
	for _, ts := range m.small[:m.n] {
		if ts.t == t {
			return ts, true
		}
	}
	ts, ok := m.memo[t]
	return ts, ok
}

func (m *sizer) remember(ts tableSize) {
	if m.n < len(m.small) {
		m.small[m.n] = ts
		m.n++
		return
	}
	if m.memo == nil {
		m.memo = make(map[*lua.LTable]tableSize)
	}
	m.memo[ts.t] = ts
}

func (m *sizer) add(a, b int) int { return min(a+b, m.max+1) }

// size returns the value.Size of lv's conversion, the bytes its copy
// allocates (without the shared strings), and its height in tables.
func (m *sizer) size(lv lua.LValue, parents []level) (size, copied, height int, err error) {
	switch v := lv.(type) {
	case *lua.LNilType, lua.LBool, lua.LNumber:
		return value.SizeValue, value.SizeValue, 0, nil
	case lua.LString:
		return m.add(value.SizeValue, len(v)), value.SizeValue, 0, nil
	case *lua.LTable:
		return m.table(v, parents)
	case *lua.LUserData:
		if _, ok := timeScalar(v); ok {
			return value.SizeValue, value.SizeValue, 0, nil
		}
	}
	return 0, 0, 0, &ConvertError{Path: pathOf(parents), Msg: "a " + lv.Type().String() + " cannot be sent as a value"}
}

func (m *sizer) table(t *lua.LTable, parents []level) (size, copied, height int, err error) {
	if m.steps--; m.steps <= 0 && m.L != nil {
		m.steps = CheckEvery
		checkStop(m.L)
	}
	if ts, ok := m.lookup(t); ok {
		if len(parents)+ts.height > value.MaxDepth {
			return 0, 0, 0, depthError(parents)
		}
		return ts.size, ts.copied, ts.height, nil
	}
	if len(parents) >= value.MaxDepth {
		return 0, 0, 0, depthError(parents)
	}
	for _, p := range parents {
		if p.t == t {
			return 0, 0, 0, &ConvertError{Path: pathOf(parents), Msg: "the table contains itself (a cycle)"}
		}
	}
	levels := append(parents, level{t: t})
	here := &levels[len(levels)-1]
	size = value.SizeValue + value.SizeCompound
	copied = size
	// item counts a list item, or a map field with key (its bytes are
	// shared with the Lua string, not copied).
	item := func(v lua.LValue, field bool, key string) error {
		s, c, h, err := m.size(v, levels)
		if err != nil {
			return err
		}
		if field {
			s, c = s+value.SizeField+len(key), c+value.SizeField
		}
		size, copied, height = m.add(size, s), m.add(copied, c), max(height, h)
		if size > m.max {
			return tooLarge(levels, m.max)
		}
		return nil
	}
	if n := t.Len(); n > 0 && isList(t, n) {
		for i := 1; i <= n; i++ {
			here.idx = i
			if err := item(t.RawGetInt(i), false, ""); err != nil {
				return 0, 0, 0, err
			}
		}
	} else {
		for k, v := t.Next(lua.LNil); k != lua.LNil; k, v = t.Next(k) {
			ks, ok := k.(lua.LString)
			if !ok {
				return 0, 0, 0, &ConvertError{Path: pathOf(parents), Msg: "a map key must be a string, got the " + k.Type().String() + " " + k.String()}
			}
			here.key = string(ks)
			if err := item(v, true, string(ks)); err != nil {
				return 0, 0, 0, err
			}
		}
	}
	height++
	m.remember(tableSize{t: t, size: size, copied: copied, height: height})
	return size, copied, height, nil
}

func depthError(parents []level) error {
	return &ConvertError{Path: pathOf(parents), Msg: "tables nested deeper than " + strconv.Itoa(value.MaxDepth) + " levels"}
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
// first). convert checked lv and its size first (sizer), so this only
// copies, and the checks below are a second line.
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
	case *lua.LUserData:
		if n, ok := timeScalar(v); ok {
			return numberValue(n), nil
		}
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
		return value.Value{}, depthError(parents)
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
		return value.List(items...), nil
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

// toLua converts a payload value to a new Lua value of L, from a Go
// function L's code called: the tables it makes are charged to L's memory
// budget as they are made (a value received can be as large as a mailbox,
// and each call of msg:payload():data() makes a new copy), with the memory
// error past it. As in decodeJSON, the value being built hangs from L's
// stack while it grows, so a measurement sees all of it.
func toLua(L *lua.LState, v value.Value) lua.LValue {
	return toLuaCharged(L, v, true)
}

// toLuaFree is toLua for code outside any Lua call (the arguments of a
// process, before its function runs): nothing can be raised there, so
// nothing is charged; the value was bounded by its sender, and the first
// measurement of the state sees it.
func toLuaFree(L *lua.LState, v value.Value) lua.LValue {
	return toLuaCharged(L, v, false)
}

func toLuaCharged(L *lua.LState, v value.Value, charge bool) lua.LValue {
	if k := v.Kind(); k != value.KindList && k != value.KindMap {
		return scalarToLua(v)
	}
	b := luaBuilder{L: L, charge: charge, steps: jsonStepEvery} // short conversions never check
	t := b.newTable(v)
	L.Push(t) // reachable while it is filled
	b.fill(t, v)
	L.Pop(1)
	if charge {
		L.CheckAlloc(b.pending)
	}
	return t
}

// luaBuilder makes the tables of toLua, charging their estimated bytes
// (the jsonDecoder's estimates) every jsonChargeEvery bytes, and checking
// the state's context as it goes.
type luaBuilder struct {
	L       *lua.LState
	charge  bool // charge, and check the context every jsonStepEvery values
	pending int
	steps   int
}

func (b *luaBuilder) add(n int) {
	if !b.charge {
		return
	}
	if b.pending += n; b.pending >= jsonChargeEvery {
		n, b.pending = b.pending, 0
		b.L.CheckAlloc(n)
	}
	if b.steps--; b.steps <= 0 {
		b.steps = jsonStepEvery
		checkStop(b.L)
	}
}

func (b *luaBuilder) newTable(v value.Value) *lua.LTable {
	b.add(jsonTableCost)
	if v.Kind() == value.KindList {
		return b.L.CreateTable(v.Len(), 0)
	}
	return b.L.CreateTable(0, v.Len())
}

// fill sets the items or fields of v, a list or map, in t. A table inside
// is attached to t before it is filled. It recurses once per level, at
// most value.MaxDepth times (values are no deeper).
func (b *luaBuilder) fill(t *lua.LTable, v value.Value) {
	item := func(it value.Value) lua.LValue {
		switch it.Kind() {
		case value.KindList, value.KindMap:
			return b.newTable(it)
		case value.KindString, value.KindBytes:
			b.add(jsonStringCost) // the text is shared with the value
		case value.KindInt, value.KindFloat:
			b.add(jsonNumberCost)
		}
		return scalarToLua(it)
	}
	if v.Kind() == value.KindList {
		for _, it := range v.Items() {
			lv := item(it)
			t.Append(lv)
			b.add(jsonSlotCost)
			if sub, ok := lv.(*lua.LTable); ok {
				b.fill(sub, it)
			}
		}
		return
	}
	for k, fv := range v.Fields() {
		if fv.IsNil() { // a nil field is no field (the relay's metadata often is)
			continue
		}
		lv := item(fv)
		t.RawSetString(k, lv)
		b.add(jsonEntryCost + jsonSlotCost + jsonStringCost)
		if sub, ok := lv.(*lua.LTable); ok {
			b.fill(sub, fv)
		}
	}
}

// scalarToLua converts a value that is no list or map.
func scalarToLua(v value.Value) lua.LValue {
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
	}
	return lua.LNil
}

// timeScalar is the number a time value (its Unix time in seconds, with a
// fraction) or a duration value (its nanoseconds) is as a payload.
func timeScalar(ud *lua.LUserData) (float64, bool) {
	switch v := ud.Value.(type) {
	case time.Time:
		return float64(v.UnixNano()) / 1e9, true
	case time.Duration:
		return float64(v), true
	}
	return 0, false
}
