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
