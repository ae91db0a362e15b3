package luart

import (
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// An error names where in the value it is, through lists and maps.
func TestConvertErrorPaths(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	for _, c := range []struct{ src, want string }{
		{`return {items = {1, print}}`, "at items[2]: a function cannot be sent as a value"},
		{`return {a = {b = {{}, {c = {[true] = 1}}}}}`, "at a.b[2].c: a map key must be a string, got the boolean true"},
		{`local t = {x = {}}; t.x.y = {t}; return t`, "at x.y[1]: the table contains itself (a cycle)"},
		{`local t = {1}; return {t, t, {k = t}}`, ""}, // the same table twice is no cycle
	} {
		if err := L.DoString(c.src); err != nil {
			t.Fatal(err)
		}
		_, err := toValue(L.Get(-1))
		L.Pop(1)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != c.want {
			t.Errorf("%s: got error %q, want %q", c.src, got, c.want)
		}
	}
}

// A map converts to exactly its live fields: a field set to nil is gone,
// one set again is there once, and number keys beside string keys are
// refused whichever part of the table holds them.
func TestConvertMapFields(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	for _, c := range []struct{ src, want string }{
		{`local t = {a = 1, b = 2, c = 3}; t.a = nil; t.c = nil; t.c = 4; return t`, `{"b":2,"c":4}`},
		{`local t = {}; for i = 1, 20 do t["k" .. i] = i end; for i = 1, 19 do t["k" .. i] = nil end; return t`, `{"k20":20}`},
		{`local t = {x = 1}; t[1] = 2; return t`, "a map key must be a string, got the number 1"},
		{`local t = {x = 1}; t[2.5] = 2; return t`, "a map key must be a string, got the number 2.5"},
	} {
		if err := L.DoString(c.src); err != nil {
			t.Fatal(err)
		}
		v, err := toValue(L.Get(-1))
		L.Pop(1)
		got := ""
		if err != nil {
			got = err.Error()
		} else {
			got = v.String()
		}
		if got != c.want {
			t.Errorf("%s: got %s, want %s", c.src, got, c.want)
		}
	}
}
