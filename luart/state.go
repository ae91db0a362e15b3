package luart

import (
	"context"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// state is one Lua interpreter with the wsrelay sandbox, owned by one
// goroutine at a time: a Lua process's, or an HTTP request's while it holds
// a pooled state.
//
// A state owns only its globals table, stacks and registry. The libraries
// and userdata metatables are built once per Runtime and shared read-only
// by every state (see libs.go): that is what keeps an idle Lua process
// small. Go functions find their state through the registry (stateOf).
type state struct {
	rt   *Runtime
	prog *Program
	L    *lua.LState
	G    *lua.LTable

	proc *process.Process // the process this state runs; nil for function.lua
	call *httpCall        // the request being served (function.lua only)
	sent int64            // bytes of the values the current handler call sent (sendValue)
	ctx  context.Context  // what blocking calls give up on

	task       *task       // the scheduled process this state runs (task.go); nil for function.lua
	turns      int         // preemption checks since the body was last resumed (task.go)
	needSlot   bool        // the body found no free CPU slot: it parks for one (limits.go)
	stepChecks int         // context checks since the body was last resumed (limits.go)
	busy       bool        // the body's last step ended preempted, not waiting (task.go)
	limits     *lua.Limits // memory budget and interruption (limits.go)
	cpuHeld    bool        // the state holds one of the Runtime's CPU slots
	cpuChecks  int         // context checks since it took it
	timers     timerSet

	libraries map[*Program]lua.LValue // the libraries loaded, and what they returned
	ctxValues value.Value             // the process's context values (ctx module): a map, or nil
	router    *topicRouter            // set once the process listens (mod_listen.go)
	pgSubs    map[*pgSub]struct{}     // the process's pg subscriptions, closed with it (mod_pg.go)
	pgPrune   int                     // the size of pgSubs at which ended ones are forgotten
	execs     map[pid.PID]struct{}    // the children of exec calls under way (exec.go)
}

// stateKey is the registry field holding a state's *state.
const stateKey = "wsrelay.state"

// stateOf returns the state L (or a coroutine of it) belongs to.
func stateOf(L *lua.LState) *state {
	return L.G.Registry.RawGetString(stateKey).(*lua.LUserData).Value.(*state)
}

// bind makes a Lua function of a state method, for the shared libraries.
func bind(m func(*state, *lua.LState) int) lua.LGFunction {
	return func(L *lua.LState) int { return m(stateOf(L), L) }
}

func (rt *Runtime) newState(prog *Program, proc *process.Process) *state {
	// A handler's state serves many calls and starts with 128 value stack
	// slots; a process's main thread runs the chunk alone (its body runs in
	// a coroutine, task.setup), and thousands of processes may wait at
	// once, so it starts with bodyStackSize and grows if the chunk needs.
	regSize := 128
	if proc != nil {
		regSize = bodyStackSize
	}
	L := lua.NewState(lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       rt.opts.CallStackSize,
		RegistrySize:        regSize,
		RegistryMaxSize:     rt.opts.RegistryMaxSize,
		RegistryGrowStep:    regSize,
		MinimizeStackMemory: true,
	})
	// gopher-lua sizes the globals and registry tables for its whole
	// standard library; this sandbox keeps its libraries elsewhere.
	L.G.Registry = L.CreateTable(0, 1)
	G := L.CreateTable(0, 1)
	L.G.Global, L.Env = G, G
	G.RawSetString("_G", G)
	L.SetMetatable(G, rt.libs.globalsMeta)
	L.SetMetatable(lua.LString(""), rt.libs.stringMeta)
	L.SetMetatable(lua.LNumber(0), rt.libs.numberMeta) // t:unix() and friends (mod_time.go)
	s := &state{rt: rt, prog: prog, L: L, G: G, proc: proc, ctx: context.Background()}
	s.setLimits()
	ud := L.NewUserData()
	ud.Value = s
	L.G.Registry.RawSetString(stateKey, ud)
	return s
}

// require loads a module listed in the entry's modules, or a library it
// imports.
func (s *state) require(L *lua.LState) int {
	return s.requireFor(L, s.prog)
}

// requireFor is require as the code of prog calls it: prog's modules and
// imports decide. A library is loaded once per state: its chunk runs the
// first time, with globals of its own, and every require returns what it
// returned (true when that was nil).
func (s *state) requireFor(L *lua.LState, prog *Program) int {
	name := checkString(L, 1, "require", "module name")
	if lib, ok := prog.imports[name]; ok {
		L.Push(s.loadLibrary(L, lib))
		return 1
	}
	if msg := undeclared(name, prog.modules, prog.kind, prog.id); msg != "" {
		// A library may use what the entry running it declares, as in the
		// original runtime, where a library runs in its importer's context.
		if prog.kind != KindLibrary || undeclared(name, s.prog.modules, s.prog.kind, s.prog.id) != "" {
			L.RaiseError("require(%q): %s", cutArg(name), msg)
		}
	}
	L.Push(s.rt.libs.modules[name])
	return 1
}

// loadLibrary returns the value of a library, running its chunk if this
// state has not yet: once per process, and once per call of a handler
// (whose calls start clean, like the handler's own file). Imports form no cycle (config refuses one, and a
// Program can import only programs compiled before it), so a library is
// never required while it loads.
func (s *state) loadLibrary(L *lua.LState, lib *Program) lua.LValue {
	if v, ok := s.libraries[lib]; ok {
		return v
	}
	env := L.CreateTable(0, 2)
	L.SetMetatable(env, s.rt.libs.globalsMeta)
	env.RawSetString("_G", env)
	env.RawSetString("require", L.NewFunction(func(L *lua.LState) int { return s.requireFor(L, lib) }))
	chunk := L.NewFunctionFromProto(lib.proto)
	chunk.Env = env
	L.Push(chunk)
	L.Call(0, 1) // an error in the library is raised in the code that required it
	v := L.Get(-1)
	L.Pop(1)
	if v == lua.LNil {
		v = lua.LTrue
	}
	if s.libraries == nil {
		s.libraries = map[*Program]lua.LValue{}
	}
	s.libraries[lib] = v
	return v
}

// print logs its arguments instead of writing to standard output, cut
// like a logger message (maxLogText). The line is built only up to the
// cut: arguments past it are not even converted to text, so 200,000
// references to one 1 MiB string make 8 KiB, not 200 GB.
func (s *state) print(L *lua.LState) int {
	var b strings.Builder
	for i := 1; i <= L.GetTop() && b.Len() <= maxLogText; i++ {
		if i > 1 {
			b.WriteByte('\t')
		}
		part := L.ToStringMeta(L.Get(i)).String()
		// One byte past the cut is enough for cutText to see it is cut.
		b.WriteString(part[:min(len(part), maxLogText+1-min(b.Len(), maxLogText+1))])
	}
	attrs := []any{"text", cutText(b.String())}
	if s.proc != nil {
		attrs = append(attrs, "pid", s.proc.PID().String())
	}
	s.rt.logLines.Get(s.prog.id).Info("lua print", attrs...) // with the entry id, limited as logger is
	return 0
}

// interrupted raises the error that ends code whose context is done: the
// process was terminated, or the handler ran out of time.
func (s *state) interrupted(L *lua.LState, op string) {
	if s.proc != nil {
		L.RaiseError("%s interrupted: the process was terminated", op)
	}
	L.RaiseError("%s interrupted: %s", op, ErrTimeout.Error())
}

func (s *state) close() {
	s.releaseCPU()
	s.timers.stopAll()
	s.endExecs()
	for ps := range s.pgSubs {
		ps.sub.Close()
	}
	s.L.Close()
}

// timerSet tracks a state's pending timers (time.after, time.timer,
// time.ticker), so that closing the state stops them.
type timerSet struct {
	mu     sync.Mutex
	m      map[*time.Timer]struct{}
	closed bool
}

// start runs fn after d unless the set is stopped first, and returns a
// function that cancels it. It fails (false) once the set is stopped, or
// when maxPendingTimers are pending.
func (ts *timerSet) start(d time.Duration, fn func()) (cancel func(), ok bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.closed || len(ts.m) >= maxPendingTimers {
		return nil, false
	}
	if ts.m == nil {
		ts.m = make(map[*time.Timer]struct{})
	}
	var t *time.Timer
	// The callback takes the lock before reading t, so it sees t assigned.
	t = time.AfterFunc(d, func() {
		ts.mu.Lock()
		delete(ts.m, t)
		ts.mu.Unlock()
		fn()
	})
	ts.m[t] = struct{}{}
	return func() {
		ts.mu.Lock()
		t.Stop()
		delete(ts.m, t)
		ts.mu.Unlock()
	}, true
}

func (ts *timerSet) stopAll() {
	ts.mu.Lock()
	for t := range ts.m {
		t.Stop()
	}
	ts.m = nil
	ts.closed = true
	ts.mu.Unlock()
}
