package luart

import (
	"math"
	"strconv"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/internal/logtext"
	"github.com/wsrelay/wsrelay/value"
)

// Argument checks that name the Lua function and the argument, so that a
// wrong call reads "process.send: argument #2 (topic) must be a string,
// got nil" rather than a bare type error.

func argError(L *lua.LState, n int, fn, arg, msg string) {
	L.RaiseError("%s: argument #%d (%s) %s", fn, n, arg, msg)
}

func checkString(L *lua.LState, n int, fn, arg string) string {
	s, ok := L.Get(n).(lua.LString)
	if !ok {
		argError(L, n, fn, arg, "must be a string, got "+L.Get(n).Type().String())
	}
	return string(s)
}

func optString(L *lua.LState, n int, fn, arg, def string) string {
	if L.Get(n) == lua.LNil {
		return def
	}
	return checkString(L, n, fn, arg)
}

func checkTable(L *lua.LState, n int, fn, arg string) *lua.LTable {
	t, ok := L.Get(n).(*lua.LTable)
	if !ok {
		argError(L, n, fn, arg, "must be a table, got "+L.Get(n).Type().String())
	}
	return t
}

func checkInt(L *lua.LState, n int, fn, arg string) int {
	num, ok := L.Get(n).(lua.LNumber)
	if !ok || float64(num) != float64(int(num)) {
		argError(L, n, fn, arg, "must be an integer, got "+describe(L.Get(n)))
	}
	return int(num)
}

// checkValue converts argument n to a payload value.
// sendValue is checkValue for a value that leaves the state for good (a
// message, a spawn argument): a handler call's copies add up against its
// memory budget (sentBytes), since nothing else would bound what one call
// leaves in other processes' mailboxes.
func (s *state) sendValue(L *lua.LState, n int, fn, arg string) value.Value {
	v, copied, err := convert(L, L.Get(n), valueBound(L))
	if err != nil {
		argError(L, n, fn, arg, "cannot be sent: "+err.Error())
	}
	if s.call != nil {
		s.sent += int64(copied)
		if max := int64(valueBound(L)); s.sent > max {
			argError(L, n, fn, arg, "cannot be sent: the values this call sent add up to "+strconv.FormatInt(s.sent, 10)+
				" bytes once copied, more than its memory budget of "+strconv.FormatInt(max, 10)+" bytes")
		}
	}
	return v
}

func checkValue(L *lua.LState, n int, fn, arg string) value.Value {
	v, err := toValueIn(L, L.Get(n))
	if err != nil {
		argError(L, n, fn, arg, "cannot be sent: "+err.Error())
	}
	return v
}

// checkDuration reads a duration: a Go duration string ("1.5s", "100ms"),
// a duration value, or a number of nanoseconds (durationOf). Negative
// durations are errors.
func checkDuration(L *lua.LState, n int, fn, arg string) time.Duration {
	d, msg := durationOf(L.Get(n))
	if msg != "" {
		argError(L, n, fn, arg, msg)
	}
	if d < 0 {
		argError(L, n, fn, arg, "must not be negative")
	}
	return d
}

// checkInt64 reads a whole number that fits an int64.
func checkInt64(L *lua.LState, n int, fn, arg string) int64 {
	num, ok := L.Get(n).(lua.LNumber)
	f := float64(num)
	if !ok || f != math.Trunc(f) || math.Abs(f) >= 9.2e18 {
		argError(L, n, fn, arg, "must be an integer, got "+describe(L.Get(n)))
	}
	return int64(f)
}

func describe(v lua.LValue) string {
	if v.Type() == lua.LTNumber || v.Type() == lua.LTString {
		return v.Type().String() + " " + cutArg(v.String())
	}
	return v.Type().String()
}

// cutArg is a script's text as an error message quotes it: its first
// 64 bytes. Error texts are made anew at every call, outside the memory
// budget's charges: one that held a 10 MB name would cost 10 MB a call.
func cutArg(s string) string { return logtext.Cut(s, 64) }

// maxErrorText bounds the error texts pushResult gives scripts.
const maxErrorText = 1 << 10

// pushResult pushes true, or false and the error's text (cut after
// maxErrorText bytes).
func pushResult(L *lua.LState, err error) int {
	if err != nil {
		L.Push(lua.LFalse)
		L.Push(lua.LString(logtext.Cut(err.Error(), maxErrorText)))
		return 2
	}
	L.Push(lua.LTrue)
	return 1
}
