package lua

// wsrelay patch: tests of the bounds on Go recursion (depth.go,
// MaxCompileDepth, parse.MaxSyntaxLevels, pm.MaxNesting). The crash
// regressions themselves (each in a child process) are in wsrelay's luart
// and cmd/wsrelay tests.

import (
	"strings"
	"testing"

	"github.com/yuin/gopher-lua/pm"
)

func doStringResult(t *testing.T, L *LState, code string) string {
	t.Helper()
	if err := L.DoString(code); err != nil {
		t.Fatalf("%v", err)
	}
	defer L.Pop(1)
	return L.Get(-1).String()
}

// Every coroutine has a call stack of its own, but all of a state's
// coroutines share one count of VM entries from Go: a recursion through
// coroutine.resume and pcall stops at MaxGoCallDepth with a catchable
// error, and the count is back to zero afterwards.
func TestGoCallDepthIsSharedByCoroutines(t *testing.T) {
	L := NewState()
	defer L.Close()
	got := doStringResult(t, L, `
local r = {depth = 0} -- not upvalues: gopher-lua closes every open upvalue on an error
local function level()
    r.depth = r.depth + 1
    local co = coroutine.create(function()
        local ok, err = pcall(level)
        if not ok then r.first = r.first or err; error(err, 0) end
    end)
    local ok, err = coroutine.resume(co)
    if not ok then r.first = r.first or err; error(err, 0) end
end
local ok, err = pcall(level)
return tostring(ok) .. "|" .. tostring(r.first) .. "|" .. r.depth`)
	parts := strings.Split(got, "|")
	if len(parts) != 3 || parts[0] != "false" || !strings.Contains(parts[1], ErrGoCallDepth) {
		t.Fatalf("got %q, want a failed pcall with %q", got, ErrGoCallDepth)
	}
	// Two entries a level (resume, pcall) plus the outer pcall and DoString.
	if want := (MaxGoCallDepth - 2) / 2; parts[2] != itoa(want) && parts[2] != itoa(want+1) {
		t.Errorf("depth %s, want about %d", parts[2], want)
	}
	if d := L.GoCallDepth(); d != 0 {
		t.Errorf("GoCallDepth %d after the script, want 0", d)
	}
	// The state goes on working at full depth.
	if got := doStringResult(t, L, `return (pcall(function() return 1 end))`); got != "true" {
		t.Errorf("a pcall after the overflow: %q", got)
	}
}

func itoa(n int) string { return LNumber(n).String() }

// A metamethod that reaches itself through a table access, and a sort
// comparator that sorts, re-enter the VM from Go at every level.
func TestGoCallDepthMetamethodsAndBuiltins(t *testing.T) {
	for name, code := range map[string]string{
		"__index": `local t
t = setmetatable({}, {__index = function(_, k) return coroutine.wrap(function() return t[k] end)() end})
return select(2, pcall(function() return t.x end))`,
		"sort": `local function cmp(a, b)
    coroutine.wrap(function() table.sort({3, 2, 1}, cmp) end)()
    return a < b
end
return select(2, pcall(table.sort, {3, 2, 1}, cmp))`,
		"gsub": `local function f() return coroutine.wrap(function() return (string.gsub("a", "a", f)) end)() end
return select(2, pcall(f))`,
	} {
		t.Run(name, func(t *testing.T) {
			L := NewState()
			defer L.Close()
			if got := doStringResult(t, L, code); !strings.Contains(got, ErrGoCallDepth) {
				t.Errorf("got %q, want %q", got, ErrGoCallDepth)
			}
		})
	}
}

// Resume from Go past the depth is an error, not a panic.
func TestResumePastGoCallDepth(t *testing.T) {
	L := NewState()
	defer L.Close()
	old := MaxGoCallDepth
	MaxGoCallDepth = 0
	defer func() { MaxGoCallDepth = old }()
	co, _ := L.NewThread()
	fn := L.NewFunction(func(L *LState) int { return 0 })
	st, err, _ := L.Resume(co, fn)
	if st != ResumeError || err == nil || !strings.Contains(err.Error(), ErrGoCallDepth) {
		t.Fatalf("Resume: %v %v, want %q", st, err, ErrGoCallDepth)
	}
}

// A pcall chain that reaches the call stack limit gives "stack overflow"
// with the auto-growing call stack too (the depth on entry to a pcall may be
// a whole number of stack segments).
func TestPCallChainAtCallStackLimit(t *testing.T) {
	for _, minimize := range []bool{false, true} {
		L := NewState(Options{CallStackSize: 200, MinimizeStackMemory: minimize})
		got := doStringResult(t, L, `
local r = {} -- not an upvalue: gopher-lua closes every open upvalue on an error
local function f()
    local ok, err = pcall(f)
    if not ok then r.first = r.first or err end
end
f()
return tostring(r.first)`)
		L.Close()
		if !strings.Contains(got, "stack overflow") {
			t.Errorf("MinimizeStackMemory %v: got %q, want a stack overflow error", minimize, got)
		}
	}
}

func TestSyntaxLevels(t *testing.T) {
	deep := func(open, middle, close string, n int) string {
		return strings.Repeat(open, n) + middle + strings.Repeat(close, n)
	}
	for _, tc := range []struct {
		name, code string
		ok         bool
	}{
		{"tables at the limit", "return " + deep("{", "", "}", 199), true},
		{"tables past the limit", "return " + deep("{", "", "}", 1000000), false},
		{"parentheses past the limit", "return " + deep("(", "1", ")", 1000000), false},
		{"functions past the limit", deep("function f() ", "", " end ", 300), false},
		{"repeat past the limit", deep("repeat ", "", " until x ", 300), false},
		{"while past the limit", deep("while x do ", "", " end ", 300), false},
		{"a long flat program", strings.Repeat("do local x = {1, {2}} end\n", 10000), true},
		{"a chain within the bound", "return a" + strings.Repeat(".b", 900), true},
		{"many concatenations, one a statement", "local s = ''\n" + strings.Repeat("s = s .. 'x' .. (s .. 'y')\n", 5000), true},
		{"many negative numbers in a table", "return {" + strings.Repeat("-1, - -2, #'x', not nil,\n", 5000) + "}", true},
		{"a long subtraction", "return 1" + strings.Repeat(" - 1", 900), true},
		{"many elseif branches", "local x = 1 if x == 0 then " + strings.Repeat("elseif x == 1 then ", 900) + "end", true},
		{"too many elseif branches", "local x = 1 if x == 0 then " + strings.Repeat("elseif x == 1 then ", 1100) + "end", false},
		{"a concatenation in brackets", "return f(" + strings.Repeat("a .. (b .. ", 60) + "c" + strings.Repeat(")", 60) + ")", true},
		{"operators pending across brackets", "return " + strings.Repeat("- (", 150) + strings.Repeat("- ", 900) + "1" + strings.Repeat(")", 150), false},
		{"a chain past the bound", "return a" + strings.Repeat(".b", 100000), false},
		{"a sum past the bound", "return 1" + strings.Repeat("+1", 100000), false},
		{"a concatenation past the bound", "return 1" + strings.Repeat(" .. 1", 100000), false},
		{"a negation past the bound", "return " + strings.Repeat("- ", 100000) + "1", false},
		{"a condition past the bound", "if 1" + strings.Repeat(" or 1", 100000) + " then end", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			L := NewState()
			defer L.Close()
			_, err := L.LoadString(tc.code)
			if tc.ok && err != nil {
				t.Fatalf("%v", err)
			}
			if !tc.ok && (err == nil || !strings.Contains(err.Error(), ErrSyntaxLevels) || !strings.Contains(err.Error(), "line")) {
				t.Fatalf("error %v, want %q with a line", err, ErrSyntaxLevels)
			}
		})
	}
}

func TestPatternNesting(t *testing.T) {
	L := NewState()
	defer L.Close()
	nested := func(n int) string { return strings.Repeat("(", n) + "a" + strings.Repeat(")", n) }
	L.SetGlobal("within", LString(nested(pm.MaxNesting)))
	L.SetGlobal("past", LString(nested(700000)))
	got := doStringResult(t, L, `
local caps = {string.find("xa", within)}
local ok, err = pcall(string.find, "a", past)
return #caps .. "|" .. caps[1] .. "|" .. tostring(ok) .. "|" .. err`)
	want := itoa(2+pm.MaxNesting) + "|2|false|"
	if !strings.HasPrefix(got, want) || !strings.Contains(got, pm.ErrNesting) {
		t.Fatalf("got %.200q, want %q then %q", got, want, pm.ErrNesting)
	}
}

// The matcher keeps its backtracking points on the heap: a greedy item
// over a long string needs no Go recursion (it took one Go frame a byte).
func TestLongGreedyMatch(t *testing.T) {
	L := NewState()
	defer L.Close()
	got := doStringResult(t, L, `
local s = ("ab"):rep(200000)
local all = s:match("^(.*)$")
local a, b, c = s:find("^(a)(.-)(b*)$")
local tail = s:match("(b+)$")
return #all .. "|" .. a .. "|" .. b .. "|" .. #c .. "|" .. tail .. "|" .. tostring(s:find("^.*c"))`)
	if want := "400000|1|400000|1|b|nil"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}
