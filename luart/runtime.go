package luart

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/internal/ratelog"
	"github.com/wsrelay/wsrelay/pg"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// Defaults of Options.
const (
	DefaultHandlerTimeout  = 30 * time.Second
	DefaultCallStackSize   = 200
	DefaultRegistryMaxSize = 256 * 1024
	DefaultMaxBodyBytes    = 10 << 20
	// DefaultLogLines is how many lines a second each entry's logger and
	// print may write (Options.LogLines).
	DefaultLogLines = 50
	// HandlerErrorLines is how many failed calls a second of each
	// function.lua entry are logged; past it they are counted in a line
	// "N lua handler errors suppressed".
	HandlerErrorLines = 20
)

// Options configure a Runtime. Node is required; every other field has a
// default.
type Options struct {
	// Node runs the Lua processes. Required.
	Node *process.Node
	// ClusterNames is the cluster-wide name table that
	// process.registry.CONSISTENT registers in (cluster.Names provides
	// one). Default nil: the node is alone, and CONSISTENT names are the
	// node's own, like LOCAL ones.
	ClusterNames ClusterNames
	// Env holds the app's variables, for the env module. Default nil: no
	// variable is declared, and env.get of any name gives an error.
	Env Env
	// Registry is the app's entries, for the registry module. Default nil:
	// there are none.
	Registry Registry
	// Groups holds the pg.scope entries that Lua's pg.open opens
	// (mod_pg.go). Default nil: pg.open finds no scope.
	Groups *pg.Service
	// OnSpawn, if set, is called with the request's context for every
	// process a function.lua handler spawns (process.spawn and its
	// variants). The gateway passes wsrelay.Own, so that a target a
	// handler spawned for a WebSocket connection belongs to it. Default
	// nil: nobody is told.
	OnSpawn func(ctx context.Context, p pid.PID) bool
	// Logger receives print output, handler errors with their tracebacks,
	// and runtime warnings. Default: discarded.
	Logger *slog.Logger
	// LogLines is how many lines a second the logger module and print of
	// each entry may write, all levels and all its processes and calls
	// together; past it lines are counted, and the next one written is
	// preceded by "N lua log lines suppressed" (docs/lua.md). Default
	// DefaultLogLines (50); negative: no limit.
	LogLines int
	// HandlerTimeout bounds one call of a function.lua handler; past it the
	// handler is stopped and the client gets 503. Default 30s.
	HandlerTimeout time.Duration
	// CallStackSize is the deepest Lua call nesting. Default 200.
	CallStackSize int
	// RegistryMaxSize bounds a state's value stack (it starts small and
	// grows). Default 262144 slots.
	RegistryMaxSize int
	// MaxBodyBytes bounds what req:body() reads. Default 10 MiB.
	MaxBodyBytes int64
	// ProcessMemory bounds the live data of one Lua process, in bytes
	// (strings, tables, closures, coroutines, queued channel values), unless
	// its entry sets its own memory_limit. Past it the process gets the Lua
	// error "memory limit exceeded". Default 64 MiB; negative: no bound.
	ProcessMemory int64
	// HandlerMemory is ProcessMemory for one call of a function.lua
	// handler (past it the client gets 500). Default 32 MiB.
	HandlerMemory int64
	// LuaCores is how many busy Lua scripts run at once: code that runs
	// past 1,024 VM instructions needs one of LuaCores slots, so that the
	// other cores stay free for the relay and the network (see docs/lua.md,
	// CPU fairness). Default GOMAXPROCS-1, and no limit when GOMAXPROCS is
	// 1; negative: no limit.
	LuaCores int
	// YieldEvery, if positive, makes a state yield the processor
	// (runtime.Gosched) every YieldEvery VM instructions. Default 0: never;
	// Go preempts a busy goroutine after 10 ms anyway. Yielding shortens
	// the wait of goroutines woken by channels (Lua to Lua messages) but
	// lengthens that of network I/O (the relay): see docs/lua.md.
	YieldEvery int
	// LuaWorkers is how many goroutines at most run Lua processes at once
	// (the scheduler's pool, docs/lua.md). A process that waits holds
	// none. Default GOMAXPROCS.
	LuaWorkers int
}

// Runtime runs Lua programs: processes on the node, and HTTP handlers on
// pooled states. It knows the process.lua programs by entry id, so that
// Lua code can spawn them.
type Runtime struct {
	node *process.Node
	log  *slog.Logger
	opts Options

	// Lines scripts cause at will, limited per entry: one noisy entry
	// cannot silence another's lines, nor its own errors.
	logLines      *ratelog.Group // logger and print
	handlerErrors *ratelog.Group // failed handler calls

	libs  *libs
	cpu   chan struct{} // the CPU slots of busy Lua code; nil: no limit
	sched *scheduler    // runs the Lua processes (sched.go)
	tasks sync.Map      // pid.PID → *task: the live Lua processes, for observers (Usage)

	slotWaiters slotWaiters // processes parked until a CPU slot is free

	mu       sync.RWMutex
	programs map[string]*Program

	requests atomic.Uint64
	bootID   string
}

// spawned tells Options.OnSpawn that the code running with ctx spawned p.
func (rt *Runtime) spawned(ctx context.Context, p pid.PID) {
	if rt.opts.OnSpawn != nil && ctx != nil {
		rt.opts.OnSpawn(ctx, p)
	}
}

// New returns a Runtime.
func New(opts Options) (*Runtime, error) {
	if opts.Node == nil {
		return nil, errors.New("luart: Options.Node is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HandlerTimeout <= 0 {
		opts.HandlerTimeout = DefaultHandlerTimeout
	}
	if opts.CallStackSize <= 0 {
		opts.CallStackSize = DefaultCallStackSize
	}
	if opts.RegistryMaxSize <= 0 {
		opts.RegistryMaxSize = DefaultRegistryMaxSize
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.LogLines == 0 {
		opts.LogLines = DefaultLogLines
	}
	if opts.ProcessMemory == 0 {
		opts.ProcessMemory = DefaultProcessMemory
	}
	if opts.HandlerMemory == 0 {
		opts.HandlerMemory = DefaultHandlerMemory
	}
	if opts.LuaCores == 0 {
		opts.LuaCores = runtime.GOMAXPROCS(0) - 1
	}
	var cpu chan struct{}
	if opts.LuaCores > 0 {
		cpu = make(chan struct{}, opts.LuaCores)
		for range opts.LuaCores {
			cpu <- struct{}{}
		}
	}
	return &Runtime{
		cpu:           cpu,
		node:          opts.Node,
		log:           opts.Logger,
		opts:          opts,
		logLines:      ratelog.NewGroup(opts.Logger, logLinesKind, "entry", opts.LogLines),
		handlerErrors: ratelog.NewGroup(opts.Logger, handlerErrorsKind, "entry", HandlerErrorLines),
		libs:          newLibs(),
		sched:         newScheduler(opts.LuaWorkers),
		programs:      make(map[string]*Program),
		bootID:        fmt.Sprintf("%x", time.Now().UnixNano()&0xffffff),
	}, nil
}

// Node returns the node the runtime spawns processes on.
func (rt *Runtime) Node() *process.Node { return rt.node }

// Add makes a process.lua program spawnable by its entry id.
func (rt *Runtime) Add(p *Program) error {
	if p.kind != KindProcess {
		return fmt.Errorf("luart: add %s: only process.lua programs are spawned", p.id)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if _, ok := rt.programs[p.id]; ok {
		return fmt.Errorf("luart: add %s: a program with that id exists", p.id)
	}
	rt.programs[p.id] = p
	return nil
}

// Program returns the process.lua program of an entry id.
func (rt *Runtime) Program(id string) (*Program, bool) {
	rt.mu.RLock()
	p, ok := rt.programs[id]
	rt.mu.RUnlock()
	return p, ok
}

// lookupRelative finds a program by id; an id without a namespace is
// looked up in ns.
func (rt *Runtime) lookupRelative(id, ns string) (*Program, error) {
	full := id
	if !strings.Contains(id, ":") {
		full = ns + ":" + id
	}
	if p, ok := rt.Program(full); ok {
		return p, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownProgram, full)
}

// Spawn starts a Lua process running prog on the named host. The program's
// method is called with args; its first return value becomes the process's
// result value, and a Lua error its exit error (an *Error with traceback).
func (rt *Runtime) Spawn(host string, prog *Program, args []value.Value, opts process.SpawnOptions) (pid.PID, error) {
	return rt.spawnWith(host, prog, args, opts, value.Nil())
}

// spawnWith is Spawn with the context values (a map, or nil) the process's
// ctx module reads and its own spawns pass on.
func (rt *Runtime) spawnWith(host string, prog *Program, args []value.Value, opts process.SpawnOptions, ctxValues value.Value) (pid.PID, error) {
	return rt.spawnTask(host, prog, args, opts, ctxValues, nil, nil)
}

// spawnTask is spawnWith for a caller that watches the process (exec.go):
// started, if not nil, is given the process before its body can run, and
// alsoWake, if not nil, is called after each of the process's wakes (see
// process.SpawnScheduled: it must not block nor call into the process).
func (rt *Runtime) spawnTask(host string, prog *Program, args []value.Value, opts process.SpawnOptions, ctxValues value.Value, started func(*process.Process), alsoWake func()) (pid.PID, error) {
	if prog.kind != KindProcess {
		return pid.PID{}, fmt.Errorf("luart: spawn %s: a function.lua entry is not a process", prog.id)
	}
	if opts.Entry == "" {
		opts.Entry = prog.id // named in its crash report
	}
	t := &task{rt: rt, prog: prog, sched: rt.sched, args: args, ctxValues: ctxValues}
	t.run_.Store(taskQueued) // a wake during the spawn finds it queued already
	wake := t.wake
	if alsoWake != nil {
		wake = func() { t.wake(); alsoWake() }
	}
	return rt.node.SpawnScheduled(host, func(p *process.Process) {
		t.p = p
		if started != nil {
			started(p)
		}
		rt.tasks.Store(p.PID(), t)
		rt.sched.enqueue(t)
	}, wake, opts)
}

// entry runs the program's chunk with env as its globals and returns the
// function to call: the method field of the table the chunk returned, or
// else the global function of that name.
func (s *state) entry(env *lua.LTable) (*lua.LFunction, error) {
	L := s.L
	chunk := L.NewFunctionFromProto(s.prog.proto)
	chunk.Env = env
	L.Push(chunk)
	if err := L.PCall(0, 1, nil); err != nil {
		return nil, luaError(err)
	}
	mod := L.Get(-1)
	L.Pop(1)
	var fn lua.LValue = lua.LNil
	t, isTable := mod.(*lua.LTable)
	if isTable {
		fn = t.RawGetString(s.prog.method)
	}
	if fn == lua.LNil {
		fn = env.RawGetString(s.prog.method)
	}
	f, ok := fn.(*lua.LFunction)
	if !ok {
		has := "it returns no table"
		if isTable {
			has = "the table it returns has " + functionNames(t)
		}
		return nil, fmt.Errorf("%s: %w: %s defines no function %q (%s; set the entry's method to one of them, or define %s)",
			s.prog.id, ErrNoMethod, s.prog.file, s.prog.method, has, s.prog.method)
	}
	return f, nil
}

// luaError turns gopher-lua's error into an *Error.
func luaError(err error) error {
	var ae *lua.ApiError
	if !errors.As(err, &ae) {
		return &Error{Message: err.Error()}
	}
	msg := "error"
	if ae.Object != nil {
		msg = ae.Object.String()
	}
	return &Error{Message: msg, Traceback: ae.StackTrace}
}

// requestID returns a new id for a request, for matching a client's error
// page with the log line that has the traceback.
func (rt *Runtime) requestID() string {
	return fmt.Sprintf("%s-%d", rt.bootID, rt.requests.Add(1))
}
