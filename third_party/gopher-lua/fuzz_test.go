package lua

// wsrelay patch: fuzz targets of the pattern matcher and of the Lua
// parser and compiler, with nesting in the seeds. Run:
//
//	go test -run '^$' -fuzz FuzzPatternFind -fuzztime 30s .
//	go test -run '^$' -fuzz FuzzCompile -fuzztime 30s .
//
// The seed corpus is in testdata/fuzz/ and below.

import (
	"strings"
	"testing"

	"github.com/yuin/gopher-lua/parse"
	"github.com/yuin/gopher-lua/pm"
)

func FuzzPatternFind(f *testing.F) {
	for _, seed := range []struct{ pattern, src string }{
		{"(a)", "aaa"},
		{"^(.-)%s*$", "  hello  "},
		{"((a)(b))", "ab"},
		{strings.Repeat("(", 250) + "a" + strings.Repeat(")", 250), "a"},
		{strings.Repeat("(", 200) + "a" + strings.Repeat(")", 200), "a"},
		{"%b()", "(()())"},
		{"(a*(.)%w(%s*))", "aaab  "},
		{"()a()", "xa"},
		{"(h)(e)%2", "hee"},
		{"[%a-z]+", "abc-z"},
		{"^a*b$", strings.Repeat("a", 5000)},
		{"(", "a"},
		{"%", "a"},
		{"[", "a"},
		{"(()", "a"},
	} {
		f.Add(seed.pattern, seed.src)
	}
	f.Fuzz(func(t *testing.T, pattern, src string) {
		steps := 0
		matches, err := pm.FindWithCheck(pattern, []byte(src), 0, -1, func(int) error {
			// Bound the work of a backtracking pattern by counting.
			if steps++; steps > 1000 {
				return errTooLong
			}
			return nil
		})
		if err != nil {
			return
		}
		for _, m := range matches {
			for i := 0; i < m.CaptureLength(); i++ {
				if c := m.Capture(i); c < 0 || c > len(src)+1 {
					t.Fatalf("capture %d at %d, outside the %d-byte subject", i, c, len(src))
				}
			}
		}
	})
}

type fuzzError string

func (e fuzzError) Error() string { return string(e) }

const errTooLong = fuzzError("too many steps")

func FuzzCompile(f *testing.F) {
	for _, seed := range []string{
		"return 1",
		"local t = {a = {b = {c = 1}}} return t.a.b.c",
		"return " + strings.Repeat("{", 199) + strings.Repeat("}", 199),
		"return " + strings.Repeat("(", 250) + "1" + strings.Repeat(")", 250),
		strings.Repeat("function f() ", 50) + strings.Repeat(" end", 50),
		"return 1" + strings.Repeat(" .. 1", 1200),
		"return a" + strings.Repeat(".b", 1200),
		"if a and b or c and not d then return end",
		"repeat local x = x + 1 until x > 10",
		"for i = 1, 10 do while true do break end end",
		"local function f(...) return select('#', ...) end",
		"goto x ::x::",
		"return -(-(-1))",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		chunk, err := parse.Parse(strings.NewReader(src), "fuzz")
		if err != nil {
			return
		}
		// A compile error is an answer; a panic or a Go stack overflow
		// is the bug this looks for.
		Compile(chunk, "fuzz")
	})
}
