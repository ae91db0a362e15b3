package luart

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/value"
)

// decodeJSON decodes JSON text (json.decode, req:body_json) straight into
// Lua values of L, with the rules of value.ParseJSON: numbers become Lua
// numbers, null is nil (an array's null is skipped, as it is when a list
// value comes to Lua), strings with invalid UTF-8 get U+FFFD, nesting
// deeper than value.MaxDepth and trailing data are errors.
//
// What it builds is bounded as it is built, not after: one element of a
// 10 MiB array of zeros is two bytes of text but 24 bytes of Lua data, so
// the text's length says little. Every table, slot, key and string is
// charged to the state's memory budget (L.CheckAlloc, every
// jsonChargeEvery bytes and at the end), and the value being built hangs
// from a table on L's stack from its first byte on, so a measurement of
// the state's live data sees all of it: past the budget the decoder stops
// with the memory error (a Lua error), having built at most about a
// budget's worth. Every jsonStepEvery values it checks the state's context
// and runs Limits.Interrupt, so a timeout, cancel or terminate stops it.
// It recurses once per level of nesting, at most value.MaxDepth times.
//
// A malformed text is an error returned (the callers return nil, err);
// the memory and context errors are raised.
func decodeJSON(L *lua.LState, text string) (lua.LValue, error) {
	d := jsonDecoder{L: L, s: text, steps: jsonStepEvery}
	// The holder keeps what is built reachable from the stack while it is
	// built; the caller's results are pushed after it.
	holder := L.CreateTable(1, 0)
	L.Push(holder)
	d.skipSpace()
	v, err := d.value(0, func(v lua.LValue) { holder.RawSetInt(1, v) })
	if err == nil {
		d.skipSpace()
		if d.i < len(d.s) {
			err = d.errorf("data after the top-level value")
		}
	}
	L.CheckAlloc(d.pending)
	if err != nil {
		return lua.LNil, err
	}
	return v, nil
}

const (
	// jsonChargeEvery is how many estimated bytes the decoder builds
	// between two charges: a measurement can miss at most that much.
	jsonChargeEvery = 64 << 10
	// jsonStepEvery is how many values it makes between two checks of the
	// context.
	jsonStepEvery = 1024
)

// Estimates of what the decoder's values take, as the memory walk counts
// them (third_party/gopher-lua/limits.go).
const (
	jsonTableCost  = 120 // a table
	jsonSlotCost   = 16  // an array slot or a key's slot in a hash table
	jsonEntryCost  = 48  // a hash entry
	jsonStringCost = 16  // a string header
	jsonNumberCost = 8   // a boxed number
)

type jsonDecoder struct {
	L       *lua.LState
	s       string
	i       int
	pending int // bytes built since the last charge
	steps   int // values to make before the next context check
}

func (d *jsonDecoder) errorf(msg string) error {
	return errors.New("invalid JSON at offset " + strconv.Itoa(d.i) + ": " + msg)
}

// charge counts n bytes built, charging them once they add up.
func (d *jsonDecoder) charge(n int) {
	d.pending += n
	if d.pending >= jsonChargeEvery {
		n, d.pending = d.pending, 0
		d.L.CheckAlloc(n)
	}
	if d.steps--; d.steps <= 0 {
		d.steps = jsonStepEvery
		checkStop(d.L)
	}
}

// checkStop raises the state's context error once it is done, and runs
// its Limits.Interrupt (the CPU slots): for loops in Go builtins, which
// the VM's own checks do not see.
func checkStop(L *lua.LState) {
	if ctx := L.Context(); ctx != nil && ctx.Err() != nil {
		L.RaiseError("%s", ctx.Err().Error())
	}
	if lm := L.Limits(); lm != nil && lm.Interrupt != nil {
		if err := lm.Interrupt(); err != nil {
			L.RaiseError("%s", err.Error())
		}
	}
}

func (d *jsonDecoder) skipSpace() {
	for d.i < len(d.s) {
		switch d.s[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// value decodes the value at d.i. A table is handed to attach as soon as
// it is made, before it is filled, so that it is reachable while it grows.
func (d *jsonDecoder) value(depth int, attach func(lua.LValue)) (lua.LValue, error) {
	if d.i >= len(d.s) {
		return nil, d.errorf("unexpected end of input")
	}
	switch c := d.s[d.i]; {
	case c == '{' || c == '[':
		if depth >= value.MaxDepth {
			return nil, d.errorf("nested deeper than " + strconv.Itoa(value.MaxDepth) + " levels")
		}
		d.i++
		t := d.L.NewTable()
		d.charge(jsonTableCost)
		attach(t)
		if c == '[' {
			return t, d.array(t, depth+1)
		}
		return t, d.object(t, depth+1)
	case c == '"':
		s, err := d.string()
		if err != nil {
			return nil, err
		}
		d.charge(jsonStringCost + len(s))
		return lua.LString(s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	}
	for _, lit := range [...]struct {
		text string
		v    lua.LValue
	}{{"null", lua.LNil}, {"true", lua.LTrue}, {"false", lua.LFalse}} {
		if strings.HasPrefix(d.s[d.i:], lit.text) {
			d.i += len(lit.text)
			d.charge(0)
			return lit.v, nil
		}
	}
	return nil, d.errorf("unexpected character " + strconv.QuoteRune(rune(d.s[d.i])))
}

func (d *jsonDecoder) array(t *lua.LTable, depth int) error {
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == ']' {
		d.i++
		return nil
	}
	for {
		d.skipSpace()
		v, err := d.value(depth, t.Append)
		if err != nil {
			return err
		}
		if _, isTable := v.(*lua.LTable); !isTable {
			t.Append(v)
		}
		d.charge(jsonSlotCost)
		d.skipSpace()
		if d.i >= len(d.s) {
			return d.errorf("unexpected end of input in an array")
		}
		switch d.s[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return nil
		default:
			return d.errorf("expected ',' or ']' in an array")
		}
	}
}

func (d *jsonDecoder) object(t *lua.LTable, depth int) error {
	d.skipSpace()
	if d.i < len(d.s) && d.s[d.i] == '}' {
		d.i++
		return nil
	}
	for {
		d.skipSpace()
		if d.i >= len(d.s) || d.s[d.i] != '"' {
			return d.errorf("expected a string key in an object")
		}
		key, err := d.string()
		if err != nil {
			return err
		}
		d.skipSpace()
		if d.i >= len(d.s) || d.s[d.i] != ':' {
			return d.errorf("expected ':' after an object key")
		}
		d.i++
		d.skipSpace()
		v, err := d.value(depth, func(v lua.LValue) { t.RawSetString(key, v) })
		if err != nil {
			return err
		}
		if _, isTable := v.(*lua.LTable); !isTable {
			t.RawSetString(key, v)
		}
		d.charge(jsonEntryCost + jsonSlotCost + jsonStringCost + len(key))
		d.skipSpace()
		if d.i >= len(d.s) {
			return d.errorf("unexpected end of input in an object")
		}
		switch d.s[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return nil
		default:
			return d.errorf("expected ',' or '}' in an object")
		}
	}
}

func (d *jsonDecoder) number() (lua.LValue, error) {
	start := d.i
	if d.s[d.i] == '-' {
		d.i++
	}
	digits := func() int {
		n := 0
		for d.i < len(d.s) && d.s[d.i] >= '0' && d.s[d.i] <= '9' {
			d.i++
			n++
		}
		return n
	}
	switch {
	case d.i < len(d.s) && d.s[d.i] == '0':
		d.i++
	case digits() == 0:
		return nil, d.errorf("invalid number")
	}
	if d.i < len(d.s) && d.s[d.i] == '.' {
		d.i++
		if digits() == 0 {
			return nil, d.errorf("invalid number: no digit after '.'")
		}
	}
	if d.i < len(d.s) && (d.s[d.i] == 'e' || d.s[d.i] == 'E') {
		d.i++
		if d.i < len(d.s) && (d.s[d.i] == '+' || d.s[d.i] == '-') {
			d.i++
		}
		if digits() == 0 {
			return nil, d.errorf("invalid number: no digit in the exponent")
		}
	}
	f, err := strconv.ParseFloat(d.s[start:d.i], 64)
	if err != nil {
		return nil, d.errorf("number " + cutArg(d.s[start:d.i]) + " is out of range")
	}
	d.charge(jsonNumberCost)
	return lua.LNumber(f), nil
}

// string decodes the string at d.i (its opening quote). The result is a
// copy, never a piece of the text: a piece would keep the whole text alive
// while the memory walk counts the piece only.
func (d *jsonDecoder) string() (string, error) {
	d.i++ // the quote
	start := d.i
	// The common case: no escape, valid UTF-8.
	for d.i < len(d.s) {
		c := d.s[d.i]
		if c == '"' {
			s := strings.Clone(d.s[start:d.i])
			d.i++
			return s, nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		d.i++
	}
	var b strings.Builder
	b.WriteString(d.s[start:d.i])
	for d.i < len(d.s) {
		c := d.s[d.i]
		switch {
		case c == '"':
			d.i++
			return b.String(), nil
		case c < 0x20:
			return "", d.errorf("control character in a string")
		case c == '\\':
			if err := d.escape(&b); err != nil {
				return "", err
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			d.i++
		default:
			r, size := utf8.DecodeRuneInString(d.s[d.i:])
			b.WriteRune(r) // invalid UTF-8 becomes U+FFFD, as in encoding/json
			d.i += size
		}
	}
	return "", d.errorf("unexpected end of input in a string")
}

// escape decodes the escape sequence at d.i into b.
func (d *jsonDecoder) escape(b *strings.Builder) error {
	if d.i+1 >= len(d.s) {
		return d.errorf("unexpected end of input in a string")
	}
	c := d.s[d.i+1]
	d.i += 2
	switch c {
	case '"', '\\', '/':
		b.WriteByte(c)
	case 'b':
		b.WriteByte('\b')
	case 'f':
		b.WriteByte('\f')
	case 'n':
		b.WriteByte('\n')
	case 'r':
		b.WriteByte('\r')
	case 't':
		b.WriteByte('\t')
	case 'u':
		r, ok := d.hex4()
		if !ok {
			return d.errorf("invalid \\u escape")
		}
		if utf16.IsSurrogate(r) {
			// A pair makes one rune; a lone half is U+FFFD.
			save := d.i
			if strings.HasPrefix(d.s[d.i:], `\u`) {
				d.i += 2
				if r2, ok := d.hex4(); ok {
					if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
						b.WriteRune(pair)
						return nil
					}
				}
			}
			d.i = save
			r = utf8.RuneError
		}
		b.WriteRune(r)
	default:
		d.i--
		return d.errorf("invalid escape \\" + string(rune(c)))
	}
	return nil
}

func (d *jsonDecoder) hex4() (rune, bool) {
	if d.i+4 > len(d.s) {
		return 0, false
	}
	var r rune
	for _, c := range []byte(d.s[d.i : d.i+4]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	d.i += 4
	return r, true
}
