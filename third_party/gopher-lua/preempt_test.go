package lua

import (
	"strings"
	"testing"
)

// wsrelay patch tests: Limits.Preempt, the results of a Go function that
// yielded, KeepTracebacks, and small registries (see PATCHES.md).

func TestPreemptYieldsAndResumesWhereItStopped(t *testing.T) {
	L := NewState(Options{SkipOpenLibs: true})
	defer L.Close()
	preempts := 0
	L.SetLimits(&Limits{InterruptEvery: 100, Preempt: func(*LState) bool { preempts++; return true }})
	if err := L.DoString(`function f(n) local s = 0 for i = 1, n do s = s + i end return s end`); err != nil {
		t.Fatal(err)
	}
	co, _ := L.NewThread()
	st, err, rets := L.Resume(co, L.GetGlobal("f").(*LFunction), LNumber(100000))
	yields := 0
	for st == ResumeYield {
		yields++
		st, err, rets = L.Resume(co, nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	if rets[0] != LNumber(5000050000) {
		t.Errorf("sum %v, want 5000050000", rets[0])
	}
	if yields == 0 || yields != preempts {
		t.Errorf("%d yields, %d preempts", yields, preempts)
	}
}

func TestPreemptNotInsideGoCalls(t *testing.T) {
	L := NewState(Options{SkipOpenLibs: true})
	defer L.Close()
	OpenBase(L)
	asked := 0
	L.SetLimits(&Limits{InterruptEvery: 100, Preempt: func(*LState) bool { asked++; return true }})
	// The loop runs in a function called from Go, a loop entered again
	// from Go: it must not be asked (a yield there would return into the
	// Go function's frames).
	L.SetGlobal("gocall", L.NewFunction(func(L *LState) int {
		L.Call(L.GetTop()-1, MultRet)
		return L.GetTop()
	}))
	if err := L.DoString(`function f() return gocall(function() local s = 0 for i = 1, 10000 do s = s + i end return s end) end`); err != nil {
		t.Fatal(err)
	}
	co, _ := L.NewThread()
	st, err, rets := L.Resume(co, L.GetGlobal("f").(*LFunction))
	if st != ResumeOK || err != nil || rets[0] != LNumber(50005000) {
		t.Fatalf("%v %v %v", st, err, rets)
	}
	if asked != 0 {
		t.Errorf("Preempt asked %d times inside a call from Go", asked)
	}
}

// A loop inside pcall, made by the VM, is preempted and goes on inside
// the pcall, which still catches the error it raises at the end.
func TestPreemptInsidePcall(t *testing.T) {
	L := NewState(Options{SkipOpenLibs: true})
	defer L.Close()
	OpenBase(L)
	preempts := 0
	L.SetLimits(&Limits{InterruptEvery: 100, Preempt: func(*LState) bool { preempts++; return true }})
	if err := L.DoString(`function f()
		local ok, s = pcall(function() local s = 0 for i = 1, 10000 do s = s + i end return s end)
		local ok2, e = pcall(function() for i = 1, 10000 do end error("late", 0) end)
		return s, ok2, e
	end`); err != nil {
		t.Fatal(err)
	}
	co, _ := L.NewThread()
	st, err, rets := L.Resume(co, L.GetGlobal("f").(*LFunction))
	yields := 0
	for st == ResumeYield {
		yields++
		st, err, rets = L.Resume(co, nil)
	}
	if err != nil || len(rets) != 3 || rets[0] != LNumber(50005000) || rets[1] != LFalse || rets[2] != LString("late") {
		t.Fatalf("%v %v %v", st, err, rets)
	}
	if yields == 0 || yields != preempts {
		t.Errorf("%d yields, %d preempts", yields, preempts)
	}
}

func TestGoYieldFillsWantedResults(t *testing.T) {
	L := NewState(Options{SkipOpenLibs: true})
	defer L.Close()
	L.SetGlobal("wait", L.NewFunction(func(L *LState) int { return L.Yield() }))
	if err := L.DoString(`function f() local a, b, c = 1, 2, 3; a, b, c = wait(); return a, b, c end`); err != nil {
		t.Fatal(err)
	}
	co, _ := L.NewThread()
	st, _, _ := L.Resume(co, L.GetGlobal("f").(*LFunction))
	if st != ResumeYield {
		t.Fatalf("state %v", st)
	}
	st, err, rets := L.Resume(co, nil, LString("x"))
	if st != ResumeOK || err != nil {
		t.Fatalf("%v %v", st, err)
	}
	if len(rets) != 3 || rets[0] != LString("x") || rets[1] != LNil || rets[2] != LNil {
		t.Errorf("got %v, want x nil nil", rets)
	}
}

func TestKeepTracebacks(t *testing.T) {
	L := NewState(Options{SkipOpenLibs: true})
	defer L.Close()
	OpenBase(L)
	if err := L.DoString(`function helper() error("kaput") end function f() helper() end`); err != nil {
		t.Fatal(err)
	}
	co, _ := L.NewThread()
	co.KeepTracebacks()
	st, err, _ := L.Resume(co, L.GetGlobal("f").(*LFunction))
	if st != ResumeError {
		t.Fatalf("state %v", st)
	}
	ae := err.(*ApiError)
	if !strings.Contains(ae.StackTrace, "stack traceback:") || !strings.Contains(ae.StackTrace, "in function 'helper'") || strings.Contains(ae.StackTrace, "corountine") {
		t.Errorf("traceback %q", ae.StackTrace)
	}
}

func TestSmallGrowingRegistry(t *testing.T) {
	L := NewState(Options{SkipOpenLibs: true, RegistrySize: 32, RegistryMaxSize: 1 << 16, RegistryGrowStep: 32})
	defer L.Close()
	if n := cap(L.reg.array); n != 32 {
		t.Errorf("registry of %d slots, want 32", n)
	}
	for i := 0; i < 1000; i++ {
		L.Push(LNumber(i))
	}
	if L.GetTop() != 1000 {
		t.Errorf("top %d", L.GetTop())
	}
}
