package luart

import (
	"context"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/process"
)

// state is one Lua interpreter with the wsrelay sandbox, owned by one
// goroutine at a time: a Lua process's, or an HTTP request's while it holds
// a pooled state.
type state struct {
	rt   *Runtime
	prog *Program
	L    *lua.LState
	G    *lua.LTable

	proc *process.Process // the process this state runs; nil for function.lua
	call *httpCall        // the request being served (function.lua only)
	ctx  context.Context  // what blocking calls give up on

	mods   map[string]lua.LValue // modules loaded by require
	timers timerSet
}

// Base functions removed from the sandbox: they reach the file system,
// the collector, or another environment than the one the code runs in.
var bannedBase = []string{
	"dofile", "loadfile", "load", "loadstring", "getfenv", "setfenv",
	"collectgarbage", "module", "require", "newproxy", "_printregs",
	"_GOPHER_LUA_VERSION",
}

// openLazy opens a library global on first use, so that an idle process
// pays only for what it touched. It returns nil for other names.
func (s *state) openLazy(name string) *lua.LTable {
	switch name {
	case "table":
		return s.openBuiltin(lua.TabLibName, lua.OpenTable)
	case "math":
		return s.openBuiltin(lua.MathLibName, lua.OpenMath)
	case "coroutine":
		return s.openBuiltin(lua.CoroutineLibName, lua.OpenCoroutine)
	case "os":
		return s.openOS()
	case "process":
		return s.openProcess()
	case "channel":
		return s.openChannel()
	}
	return nil
}

func (rt *Runtime) newState(prog *Program, proc *process.Process) *state {
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       rt.opts.CallStackSize,
		RegistrySize:        256,
		RegistryMaxSize:     rt.opts.RegistryMaxSize,
		RegistryGrowStep:    256,
		MinimizeStackMemory: true,
	})
	s := &state{rt: rt, prog: prog, L: L, G: L.G.Global, proc: proc, ctx: context.Background()}
	L.Push(L.NewFunction(lua.OpenBase))
	L.Push(lua.LString(lua.BaseLibName))
	L.Call(1, 0)
	L.Push(L.NewFunction(lua.OpenString))
	L.Push(lua.LString(lua.StringLibName))
	L.Call(1, 0)
	for _, name := range bannedBase {
		s.G.RawSetString(name, lua.LNil)
	}
	s.G.RawSetString("string", s.readOnly("string", s.G.RawGetString("string").(*lua.LTable)))
	s.G.RawSetString("print", L.NewFunction(s.print))
	s.G.RawSetString("require", L.NewFunction(s.require))
	s.G.RawSetString("rawset", L.NewFunction(s.rawset))
	mt := L.CreateTable(0, 1)
	mt.RawSetString("__index", L.NewFunction(s.lazyGlobal))
	L.SetMetatable(s.G, mt)
	return s
}

// lazyGlobal is the globals' __index: it opens a library on first use.
func (s *state) lazyGlobal(L *lua.LState) int {
	name, ok := L.Get(2).(lua.LString)
	if !ok {
		return 0
	}
	t := s.openLazy(string(name))
	if t == nil {
		return 0
	}
	lib := s.readOnly(string(name), t)
	s.G.RawSetString(string(name), lib)
	L.Push(lib)
	return 1
}

// openBuiltin runs one of gopher-lua's openers and takes the table it made.
func (s *state) openBuiltin(name string, open lua.LGFunction) *lua.LTable {
	s.L.Push(s.L.NewFunction(open))
	s.L.Push(lua.LString(name))
	s.L.Call(1, 1)
	t := s.L.Get(-1).(*lua.LTable)
	s.L.Pop(1)
	return t
}

// openOS keeps only the clock and calendar functions of os.
func (s *state) openOS() *lua.LTable {
	full := s.openBuiltin(lua.OsLibName, lua.OpenOs)
	t := s.L.CreateTable(0, 4)
	for _, name := range []string{"clock", "date", "difftime", "time"} {
		t.RawSetString(name, full.RawGetString(name))
	}
	return t
}

// readOnly returns a proxy of lib that refuses writes, so that code served
// on a pooled state cannot change a library for the next request.
func (s *state) readOnly(name string, lib *lua.LTable) *lua.LTable {
	proxy := s.L.CreateTable(0, 0)
	mt := s.L.CreateTable(0, 3)
	mt.RawSetString("__index", lib)
	mt.RawSetString("__newindex", s.L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("the library table %s is read-only", name)
		return 0
	}))
	mt.RawSetString("__metatable", lua.LString("locked"))
	s.L.SetMetatable(proxy, mt)
	return proxy
}

// rawset is the base rawset, refusing the read-only library proxies.
func (s *state) rawset(L *lua.LState) int {
	t := L.CheckTable(1)
	if mt, ok := L.GetMetatable(t).(*lua.LTable); ok && mt.RawGetString("__metatable") == lua.LString("locked") {
		L.RaiseError("rawset: library tables are read-only")
	}
	if L.Get(2) == lua.LNil {
		L.ArgError(2, "table index is nil")
	}
	t.RawSet(L.Get(2), L.Get(3))
	L.SetTop(1)
	return 1
}

// require loads a module listed in the entry's modules.
func (s *state) require(L *lua.LState) int {
	name := checkString(L, 1, "require", "module name")
	if m, ok := s.mods[name]; ok {
		L.Push(m)
		return 1
	}
	if !s.prog.allows(name) {
		if name == "http" && s.prog.kind != KindFunction {
			L.RaiseError("require: module \"http\" is only available to function.lua handlers, not to the process %s", s.prog.id)
		}
		L.RaiseError("require: module %q is not listed in the modules of entry %s (add it to modules:)", name, s.prog.id)
	}
	var m *lua.LTable
	switch name {
	case "json":
		m = s.openJSON()
	case "time":
		m = s.openTime()
	case "http":
		m = s.openHTTP()
	}
	lm := s.readOnly(name, m)
	if s.mods == nil {
		s.mods = make(map[string]lua.LValue, 2)
	}
	s.mods[name] = lm
	L.Push(lm)
	return 1
}

// print logs its arguments instead of writing to standard output.
func (s *state) print(L *lua.LState) int {
	parts := make([]string, L.GetTop())
	for i := range parts {
		parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
	}
	attrs := []any{"entry", s.prog.id, "text", strings.Join(parts, "\t")}
	if s.proc != nil {
		attrs = append(attrs, "pid", s.proc.PID().String())
	}
	s.rt.log.Info("lua print", attrs...)
	return 0
}

func (s *state) close() {
	s.timers.stopAll()
	s.L.Close()
}

// timerSet tracks a state's pending time.after timers, so that closing the
// state stops them.
type timerSet struct {
	mu sync.Mutex
	m  map[*time.Timer]struct{}
}

func (ts *timerSet) add(t *time.Timer) {
	ts.mu.Lock()
	if ts.m == nil {
		ts.m = make(map[*time.Timer]struct{})
	}
	ts.m[t] = struct{}{}
	ts.mu.Unlock()
}

func (ts *timerSet) remove(t *time.Timer) {
	ts.mu.Lock()
	delete(ts.m, t)
	ts.mu.Unlock()
}

func (ts *timerSet) stopAll() {
	ts.mu.Lock()
	for t := range ts.m {
		t.Stop()
	}
	ts.m = nil
	ts.mu.Unlock()
}
