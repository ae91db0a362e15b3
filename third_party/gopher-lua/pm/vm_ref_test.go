package pm

// wsrelay patch: runVM (heap backtracking) against upstream's recursive
// matcher, kept here as the reference: both must find the same matches
// with the same captures, or fail alike.

import (
	"fmt"
	"strings"
	"testing"
)

type refStop struct{}

// refRecursiveVM is upstream's recursiveVM, with a step budget and the
// patch's check of a back reference to an open capture.
func refRecursiveVM(src []byte, insts []inst, pc, sp, recLevel int, steps *int, ms ...*MatchData) (bool, int, *MatchData) {
	recLevel++
	if recLevel > maxRecursionLevel {
		panic(newError(_UNKNOWN, "pattern/input too complex"))
	}
	var m *MatchData
	if len(ms) == 0 {
		m = newMatchState()
	} else {
		m = ms[0]
	}
redo:
	if *steps--; *steps < 0 {
		panic(refStop{})
	}
	inst := insts[pc]
	switch inst.OpCode {
	case opChar:
		if sp >= len(src) || !inst.Class.Matches(int(src[sp])) {
			return false, sp, m
		}
		pc++
		sp++
		goto redo
	case opMatch:
		return true, sp, m
	case opTailMatch:
		return sp >= len(src), sp, m
	case opJmp:
		pc = inst.Operand1
		goto redo
	case opSplit:
		if ok, nsp, _ := refRecursiveVM(src, insts, inst.Operand1, sp, recLevel, steps, m); ok {
			return true, nsp, m
		}
		pc = inst.Operand2
		goto redo
	case opSave:
		s := m.setCapture(inst.Operand1, sp)
		if ok, nsp, _ := refRecursiveVM(src, insts, pc+1, sp, recLevel, steps, m); ok {
			return true, nsp, m
		}
		m.restoreCapture(inst.Operand1, s)
		return false, sp, m
	case opPSave:
		m.addPosCapture(inst.Operand1, sp+1)
		pc++
		goto redo
	case opBrace:
		if sp >= len(src) || int(src[sp]) != inst.Operand1 {
			return false, sp, m
		}
		count := 1
		for sp = sp + 1; sp < len(src); sp++ {
			if int(src[sp]) == inst.Operand2 {
				count--
			}
			if count == 0 {
				pc++
				sp++
				goto redo
			}
			if int(src[sp]) == inst.Operand1 {
				count++
			}
		}
		return false, sp, m
	case opNumber:
		idx := inst.Operand1 * 2
		if idx >= m.CaptureLength()-1 || m.Capture(idx+1) < m.Capture(idx) {
			panic(newError(_UNKNOWN, "invalid capture index"))
		}
		capture := src[m.Capture(idx):m.Capture(idx+1)]
		for i := 0; i < len(capture); i++ {
			if i+sp >= len(src) || capture[i] != src[i+sp] {
				return false, sp, m
			}
		}
		pc++
		sp += len(capture)
		goto redo
	}
	panic("should not reach here")
}

// refFind is upstream's Find over refRecursiveVM. stopped reports that the
// step budget ran out.
func refFind(p string, src []byte, steps int) (matches []*MatchData, err error, stopped bool) {
	defer func() {
		if v := recover(); v != nil {
			switch v := v.(type) {
			case *Error:
				err = v
			case refStop:
				stopped = true
			default:
				panic(v)
			}
		}
	}()
	pat := parsePattern(newScanner([]byte(p)), true)
	insts := compilePattern(pat)
	matches = []*MatchData{}
	for sp := 0; sp <= len(src); {
		ok, nsp, ms := refRecursiveVM(src, insts, 0, sp, 0, &steps)
		sp++
		if ok {
			if sp < nsp {
				sp = nsp
			}
			matches = append(matches, ms)
		}
		if pat.MustHead {
			break
		}
	}
	return
}

func describe(matches []*MatchData, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	for _, m := range matches {
		fmt.Fprintf(&b, "%v;", m.captures)
	}
	return b.String()
}

func sameAsReference(t *testing.T, pattern, src string) {
	t.Helper()
	const budget = 200000
	want, werr, stopped := refFind(pattern, []byte(src), budget)
	if stopped {
		return // too long for the reference's budget
	}
	got, gerr := Find(pattern, []byte(src), 0, -1)
	if g, w := describe(got, gerr), describe(want, werr); g != w {
		t.Fatalf("pattern %q on %q:\n got %s\nwant %s", pattern, src, g, w)
	}
}

func TestVMMatchesReference(t *testing.T) {
	for _, tc := range []struct{ pattern, src string }{
		{"(a)", "aaa"},
		{"^(.-)%s*$", "  hello  "},
		{"((a)(b))", "abab"},
		{"(a*(.)%w(%s*))", "aaab  x"},
		{"()a()", "xaya"},
		{"(h)(e)%2", "hee heh"},
		{"%b()", "x(()())(y"},
		{"[%a-z]+", "abc-z 1"},
		{"^a*b$", "aaaab"},
		{"a-b", "aaab ab b"},
		{"(a?)(a?)a", "aa"},
		{"(.-)(%d+)$", "abc123"},
		{"(x*)$", "yxx"},
		{"^(%w+)=(%w*)$", "key="},
		{"(a+)(b*)(c?)", "aabbbc abc a"},
		{"(()(a)())", "aa"},
		{"%f[%w]%w+", "hello world"},
		{"(%1)", "a"},
		{strings.Repeat("(", 30) + "a" + strings.Repeat(")", 30), "ba"},
	} {
		sameAsReference(t, tc.pattern, tc.src)
	}
}

func FuzzVMMatchesReference(f *testing.F) {
	for _, seed := range []struct{ pattern, src string }{
		{"(a)", "aaa"},
		{"((a)(b))", "abab"},
		{"(a*(.)%w(%s*))", "aaab  x"},
		{"()a()", "xaya"},
		{"(h)(e)%2", "hee heh"},
		{"%b()", "x(()())(y"},
		{"(.-)(%d+)$", "abc123"},
		{"(a?)(a?)a", "aa"},
	} {
		f.Add(seed.pattern, seed.src)
	}
	f.Fuzz(func(t *testing.T, pattern, src string) {
		if len(src) > 256 {
			src = src[:256]
		}
		sameAsReference(t, pattern, src)
	})
}
