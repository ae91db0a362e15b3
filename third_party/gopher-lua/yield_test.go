package lua

import (
	"os"
	"strings"
	"testing"
)

// wsrelay patch tests: yields through pcall, xpcall and coroutines
// (yield.go).

// yieldRig is a state with limits whose global wait() yields to the
// embedder when it can (YieldRoot is the thread the test resumes) and
// returns the value the test resumes with; where it cannot, it returns
// "blocked" at once (as an embedder that waits in place would).
type yieldRig struct {
	L      *LState
	co     *LState
	yields int
}

func newYieldRig(t *testing.T, src string) *yieldRig {
	t.Helper()
	L := NewState(Options{CallStackSize: 20000})
	t.Cleanup(L.Close)
	L.SetLimits(&Limits{})
	r := &yieldRig{L: L}
	L.SetGlobal("wait", L.NewFunction(func(L *LState) int {
		if L.YieldRoot() != r.co {
			L.Push(LString("blocked"))
			return 1
		}
		return L.YieldToRoot()
	}))
	if !strings.Contains(src, "function run(") {
		src += "\nfunction run() local r = {main()}; return unpack(r) end"
	}
	if err := L.DoString(src); err != nil {
		t.Fatal(err)
	}
	r.co, _ = L.NewThread()
	return r
}

// run resumes main (called by run, so that its tail calls are not the
// thread's body's) with each resume giving "v1", "v2"... and returns what
// main returned, as strings.
func (r *yieldRig) run(t *testing.T) []string {
	t.Helper()
	st, err, rets := r.L.Resume(r.co, r.L.GetGlobal("run").(*LFunction))
	for st == ResumeYield {
		r.yields++
		if r.yields > 100 {
			t.Fatal("more than 100 yields")
		}
		st, err, rets = r.L.Resume(r.co, nil, LString("v"+string(rune('0'+r.yields))))
	}
	if err != nil {
		t.Fatalf("main failed: %v", err)
	}
	var out []string
	for _, v := range rets {
		out = append(out, v.String())
	}
	return out
}

func TestYieldThroughProtectedCallsAndCoroutines(t *testing.T) {
	cases := []struct {
		name, src string
		want      string // main's results joined by " "
		yields    int
	}{
		{"pcall", `function main() return pcall(function() return wait() end) end`, "true v1", 1},
		{"pcall results wanted", `function main() local ok, a, b = pcall(function() return wait(), wait() end); return ok, a, b end`, "true v1 v2", 2},
		{"tail pcall in the body", `function run() return pcall(function() local v = wait(); error(v, 0) end) end`, "false v1", 1},
		{"tail xpcall in the body", `function run() return xpcall(function() return wait() end, print) end`, "true v1", 1},
		{"pcall of error", `function main() local ok, e = pcall(error, "boom", 0); return ok, e, select("#", pcall(error, "x")) end`, "false boom 2", 0},
		{"pcall of a callable table", `function main()
			return pcall(setmetatable({}, {__call = function(self, a) return wait() .. a end}), "x") end`, "true v1x", 1},
		{"uncaught after pcalls", `function main()
			local ok = pcall(function() return wait() end)
			local co = coroutine.create(function() pcall(function() wait() end); error("out", 0) end)
			return ok, coroutine.resume(co) end`, "true false out", 2},
		{"error level 2 names pcall's caller", `function main()
			local ok, e = pcall(function() error("m", 2) end)
			return e end`, "<string>:2: m", 0},
		{"pcall of a Go function", `function main() return pcall(wait) end`, "true v1", 1},
		{"pcall of pcall", `function main() return pcall(pcall, function() return wait() end) end`, "true true v1", 1},
		{"error after resume caught", `function main()
			local ok, e = pcall(function() local v = wait(); error("after " .. v, 0) end)
			return ok, e end`, "false after v1", 1},
		{"caught by the inner pcall", `function main()
			local ok, ok2, e = pcall(function()
				local ok2, e = pcall(function() wait(); error("inner", 0) end)
				wait()
				return ok2, e
			end)
			return ok, ok2, e end`, "true false inner", 2},
		{"caught by the outer pcall", `function main()
			local ok, e = pcall(function()
				local ok2 = pcall(function() return wait() end)
				wait()
				error("outer", 0)
			end)
			return ok, e, pcall(function() return "still protected" end) end`, "false outer true still protected", 2},
		{"xpcall handler", `function main()
			return xpcall(function() wait(); error("x", 0) end, function(e) return "handled " .. e .. " " .. wait() end) end`, "false handled x blocked", 1},
		{"coroutine.wrap", `function main()
			local f = coroutine.wrap(function() local v = wait(); coroutine.yield(v); return "end" end)
			return f(), f() end`, "v1 end", 1},
		{"coroutine.resume", `function main()
			local co = coroutine.create(function(a) local v = wait(); local b = coroutine.yield(a .. v); return b .. wait() end)
			local ok1, x = coroutine.resume(co, "a")
			local ok2, y = coroutine.resume(co, "b")
			return ok1, x, ok2, y, coroutine.status(co) end`, "true av1 true bv2 dead", 2},
		{"pcall in a coroutine", `function main()
			local co = coroutine.wrap(function()
				local ok, e = pcall(function() wait(); error("in co", 0) end)
				return ok, e
			end)
			return co() end`, "false in co", 1},
		{"coroutine in pcall, error after resume", `function main()
			return pcall(coroutine.wrap(function() wait(); error("wrapped", 0) end)) end`, "false wrapped", 1},
		{"nested coroutines", `function main()
			local outer = coroutine.wrap(function()
				local inner = coroutine.wrap(function() return wait() .. wait() end)
				return inner() .. wait()
			end)
			return outer() end`, "v1v2v3", 3},
		{"tail-called resume", `local function go(co) return coroutine.resume(co) end
			function main() local co = coroutine.create(function() local v = wait(); return v end); return go(co) end`, "true v1", 1},
		{"deep chain", `local function deep(n) if n == 0 then return wait() end; local ok, v = pcall(deep, n - 1); return v end
			function main() return deep(50) end`, "v1", 1},
		{"metamethod cannot", `function main()
			local t = setmetatable({}, {__index = function() return wait() end})
			return pcall(function() return t.x end) end`, "true blocked", 0},
		{"sort comparator cannot", `function main()
			local got
			table.sort({2, 1}, function(a, b) got = got or wait(); return a < b end)
			return got end`, "blocked", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newYieldRig(t, c.src)
			got := strings.Join(r.run(t), " ")
			if got != c.want || r.yields != c.yields {
				t.Errorf("got %q after %d yields, want %q after %d", got, r.yields, c.want, c.yields)
			}
			if d := r.L.GoCallDepth(); d != 0 {
				t.Errorf("Go call depth %d after the run", d)
			}
		})
	}
}

// A pcall made by the VM adds no Go frame: 1,000 nested pcalls (past
// MaxGoCallDepth) run, and an error at the bottom is caught by the
// innermost.
func TestProtectedCallsAddNoGoDepth(t *testing.T) {
	r := newYieldRig(t, `function main()
		local function deep(n)
			if n == 0 then wait(); error("bottom", 0) end
			local ok, e = pcall(deep, n - 1)
			if n == 1 then return "caught at 1: " .. e end
			return e
		end
		return deep(1000) end`)
	if got := strings.Join(r.run(t), " "); got != "caught at 1: bottom" || r.yields != 1 {
		t.Errorf("got %q after %d yields", got, r.yields)
	}
}

// The upstream test scripts, run as the body of a coroutine of a state
// with limits, where pcall and xpcall are made by the VM, and preempted
// at every check where the yield can reach the embedder (inside pcall
// bodies and coroutines too): they pass as on a plain state.
func TestScriptsUnderProtectedCallsAndPreemption(t *testing.T) {
	for _, dir := range []struct {
		name  string
		tests []string
	}{{"_glua-tests", gluaTests}, {"_lua5.1-tests", luaTests}} {
		for _, script := range dir.tests {
			t.Run(dir.name+"/"+script, func(t *testing.T) {
				runScriptPreempted(t, dir.name, script)
			})
		}
	}
}

func runScriptPreempted(t *testing.T, dir, script string) {
	os.Unsetenv("_____GLUATEST______") // os.lua sets it, and TestGlua ran os.lua too
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	defer os.Chdir("..")
	L := NewState(Options{RegistrySize: 1024 * 20, CallStackSize: 1024})
	defer L.Close()
	L.SetMx(maxMemory)
	var co *LState
	preempts := 0
	L.SetLimits(&Limits{InterruptEvery: 97, Preempt: func(th *LState) bool {
		if th.YieldRoot() == co {
			preempts++
			return true
		}
		return false
	}})
	src, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	code := string(src)
	if script == "issues.lua" {
		// Issue 62's tracebacks show xpcall's Go frame, which a pcall
		// made by the VM does not have (a documented difference).
		i, j := strings.Index(code, "-- issue 62"), strings.Index(code, "-- issue 81")
		code = code[:i] + code[j:]
	}
	fn, err := L.Load(strings.NewReader(code), script)
	if err != nil {
		t.Fatal(err)
	}
	co, _ = L.NewThread()
	// As in wsrelay, the body's coroutine looks like the main thread.
	running := L.GetField(L.GetGlobal("coroutine"), "running").(*LFunction).GFunction
	L.SetField(L.GetGlobal("coroutine"), "running", L.NewFunction(func(L *LState) int {
		if L == co {
			L.Push(LNil)
			return 1
		}
		return running(L)
	}))
	st, rerr, _ := L.Resume(co, fn)
	for n := 0; st == ResumeYield; n++ {
		if n > 1e7 {
			t.Fatal("too many yields")
		}
		st, rerr, _ = L.Resume(co, nil)
	}
	if rerr != nil {
		t.Fatalf("%s: %v", script, rerr)
	}
	t.Logf("%s: %d preemptions", script, preempts)
}

// A released call stack is taken again by the next call, on the main
// thread and in a coroutine it resumes.
func TestReleaseStack(t *testing.T) {
	L := NewState(Options{MinimizeStackMemory: true})
	defer L.Close()
	if err := L.DoString(`function f(n) if n == 0 then return 0 end return 1 + f(n - 1) end`); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		L.ReleaseStack()
		L.ReleaseStack()
		if err := L.DoString(`assert(f(50) == 50)
			local co = coroutine.wrap(function() coroutine.yield(f(20)) end)
			assert(co() == 20)`); err != nil {
			t.Fatal(err)
		}
	}
	co, _ := L.NewThread()
	co.ReleaseStack()
	if st, err, rets := L.Resume(co, L.GetGlobal("f").(*LFunction), LNumber(30)); st != ResumeOK || err != nil || rets[0] != LNumber(30) {
		t.Fatalf("%v %v %v", st, err, rets)
	}
}

// TestTailCalledYield: a Go function that yields in tail position
// (return coroutine.yield(...)) yields, and the function returns what the
// thread was resumed with; upstream ended the thread at the yield (the
// caller's frame was gone), and coroutine.wrap then failed on a nil frame.
func TestTailCalledYield(t *testing.T) {
	L := NewState()
	defer L.Close()
	err := L.DoString(`
		local co = coroutine.create(function(a) return coroutine.yield(a + 1) end)
		local ok, v = coroutine.resume(co, 1)
		assert(ok and v == 2, "first resume: " .. tostring(v))
		ok, v = coroutine.resume(co, "back")
		assert(ok and v == "back", "second resume: " .. tostring(v))
		assert(coroutine.status(co) == "dead")
		local w = coroutine.wrap(function() return coroutine.yield(1) end)
		assert(w() == 1)
		assert(w("again") == "again")
		local function deep(n) if n == 0 then return coroutine.yield("deep") end return deep(n - 1) end
		local d = coroutine.wrap(function() return deep(50) end)
		assert(d() == "deep")
		assert(d(7) == 7)
	`)
	if err != nil {
		t.Fatal(err)
	}
}
