package luart

import (
	"errors"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/internal/suggest"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// The process global: this process, messaging, spawning, monitors, links,
// cancellation and the name registry.

const (
	messageType = "wsrelay.message"
	payloadType = "wsrelay.payload"
)

func (b *libBuilder) processLib() *lua.LTable {
	t := b.funcs(map[string]lua.LGFunction{
		"pid":                    bind((*state).procPID),
		"send":                   bind((*state).procSend),
		"spawn":                  bind(spawnFn("process.spawn", process.SpawnOptions{})),
		"spawn_monitored":        bind(spawnFn("process.spawn_monitored", process.SpawnOptions{Monitor: true})),
		"spawn_linked":           bind(spawnFn("process.spawn_linked", process.SpawnOptions{Link: true})),
		"spawn_linked_monitored": bind(spawnFn("process.spawn_linked_monitored", process.SpawnOptions{Link: true, Monitor: true})),
		"monitor":                bind(relFn("process.monitor", (*process.Process).Monitor)),
		"unmonitor":              bind(relFn("process.unmonitor", (*process.Process).Unmonitor)),
		"link":                   bind(relFn("process.link", (*process.Process).Link)),
		"unlink":                 bind(relFn("process.unlink", (*process.Process).Unlink)),
		"cancel":                 bind((*state).procCancel),
		"terminate":              bind((*state).procTerminate),
		"set_options":            bind((*state).procSetOptions),
		"inbox":                  bind((*state).procInbox),
		"events":                 bind((*state).procEvents),
		"with_context":           bind((*state).procWithContext),
		"listen":                 bind((*state).procListen),
		"unlisten":               bind((*state).procUnlisten),
		"with_options":           bind((*state).procWithOptions),
		"exec":                   bind((*state).procExec),
	})
	t.RawSetString("registry", b.registryLib())
	ev := b.L.CreateTable(0, 3)
	for _, k := range []process.EventKind{process.EventExit, process.EventLinkDown, process.EventCancel} {
		ev.RawSetString(k.String(), lua.LString(k.String()))
	}
	t.RawSetString("event", b.readOnly("process.event", ev))
	return t
}

// self returns the running process, raising an error naming fn when the
// code is an HTTP handler, which is not a process.
func (s *state) self(L *lua.LState, fn string) *process.Process {
	if s.proc == nil {
		L.RaiseError("%s: only a process can do this, and this code is a function.lua handler", fn)
	}
	return s.proc
}

func (s *state) selfPID() pid.PID {
	if s.proc == nil {
		return pid.PID{}
	}
	return s.proc.PID()
}

// checkDest resolves argument n, a registered name or a PID string.
func (s *state) checkDest(L *lua.LState, n int, fn string) (pid.PID, error) {
	dest := checkString(L, n, fn, "destination")
	return s.rt.node.Resolve(dest)
}

func (s *state) procPID(L *lua.LState) int {
	if s.proc == nil {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LString(s.proc.PID().String()))
	return 1
}

func (s *state) procSend(L *lua.LState) int {
	const fn = "process.send"
	dest := checkString(L, 1, fn, "destination")
	topic := checkString(L, 2, fn, "topic")
	if L.GetTop() > 3 {
		// A message has one payload; dropping the rest would lose data
		// silently. (The original runtime's extra payloads have no
		// receiver here: msg:payload() is the one.)
		L.RaiseError("process.send: %d payloads given; a message carries one: put the values in a table, as in process.send(pid, topic, {a, b, c})", L.GetTop()-2)
	}
	payload := s.sendValue(L, 3, fn, "payload")
	return pushResult(L, s.rt.node.SendDest(s.selfPID(), dest, topic, payload))
}

func spawnFn(fn string, opts process.SpawnOptions) func(*state, *lua.LState) int {
	return func(s *state, L *lua.LState) int {
		p, ok := s.spawnFrom(L, fn, opts, s.ctxValues)
		if !ok {
			return 2
		}
		L.Push(lua.LString(p.String()))
		return 1
	}
}

// spawnFrom spawns what the arguments (id, host, args...) say, with the
// context values ctx; on failure it pushes nil and the error.
func (s *state) spawnFrom(L *lua.LState, fn string, opts process.SpawnOptions, ctx value.Value) (pid.PID, bool) {
	id := checkString(L, 1, fn, "entry id")
	host := checkString(L, 2, fn, "process host")
	args := make([]value.Value, 0, max(L.GetTop()-2, 0))
	for i := 3; i <= L.GetTop(); i++ {
		args = append(args, s.sendValue(L, i, fn, "spawn argument"))
	}
	o := opts
	if o.Link || o.Monitor {
		o.Parent = s.self(L, fn).PID()
	}
	prog, err := s.rt.lookupRelative(id, s.prog.namespace())
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(fn + ": " + err.Error()))
		return pid.PID{}, false
	}
	p, err := s.rt.spawnWith(host, prog, args, o, ctx)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(fn + ": " + err.Error()))
		return pid.PID{}, false
	}
	// In a handler serving a request, whoever serves the request may
	// want to know (the WebSocket relay: a target the handler spawned
	// is owned by its connection).
	s.rt.spawned(s.ctx, p)
	return p, true
}

func relFn(fn string, op func(*process.Process, pid.PID) error) func(*state, *lua.LState) int {
	return func(s *state, L *lua.LState) int {
		self := s.self(L, fn)
		target, err := s.checkDest(L, 1, fn)
		if err == nil {
			err = op(self, target)
		}
		return pushResult(L, err)
	}
}

func (s *state) procCancel(L *lua.LState) int {
	const fn = "process.cancel"
	target, err := s.checkDest(L, 1, fn)
	reason := ""
	switch v := L.Get(2).(type) {
	case *lua.LNilType:
	case lua.LString, lua.LNumber: // the reason; code written for older runtimes gives a timeout here
		reason = cutArg(v.String())
	default:
		argError(L, 2, fn, "reason", "must be a string, got "+describe(v))
	}
	if err == nil {
		err = s.rt.node.Cancel(s.selfPID(), target, reason)
	}
	return pushResult(L, err)
}

func (s *state) procTerminate(L *lua.LState) int {
	target, err := s.checkDest(L, 1, "process.terminate")
	if err == nil {
		err = s.rt.node.Terminate(target)
	}
	return pushResult(L, err)
}

func (s *state) procSetOptions(L *lua.LState) int {
	const fn = "process.set_options"
	self := s.self(L, fn)
	opts := checkTable(L, 1, fn, "options")
	// Check every option before applying any: all or nothing.
	var bad string
	var trap *bool
	opts.ForEach(func(k, v lua.LValue) {
		switch {
		case bad != "":
		case k == lua.LString("trap_links"):
			b, ok := v.(lua.LBool)
			if !ok {
				bad = "trap_links must be a boolean, got " + v.Type().String()
				return
			}
			t := bool(b)
			trap = &t
		default:
			bad = "unknown option " + describe(k) + suggest.DidYouMean(lua.LVAsString(k), []string{"trap_links"}) + " (known: trap_links)"
		}
	})
	if bad == "" && trap != nil {
		self.SetTrapLinks(*trap)
	}
	if bad != "" {
		L.Push(lua.LNil)
		L.Push(lua.LString(fn + ": " + bad))
		return 2
	}
	L.Push(lua.LTrue)
	return 1
}

func (s *state) procInbox(L *lua.LState) int {
	p := s.self(L, "process.inbox")
	L.Push(s.newUserData(L, channelType, &inboxSource{s: s, L: L, p: p}))
	return 1
}

func (s *state) procEvents(L *lua.LState) int {
	p := s.self(L, "process.events")
	L.Push(s.newUserData(L, channelType, &eventSource{L: L, p: p}))
	return 1
}

// Messages and payloads as userdata.

var messageMethods = map[string]lua.LGFunction{
	"topic": func(L *lua.LState) int {
		L.Push(lua.LString(checkMessage(L).Topic))
		return 1
	},
	"from": func(L *lua.LState) int {
		m := checkMessage(L)
		if m.From.IsZero() {
			L.Push(lua.LNil)
		} else {
			L.Push(lua.LString(m.From.String()))
		}
		return 1
	},
	"payload": bind(func(s *state, L *lua.LState) int {
		L.Push(s.newUserData(L, payloadType, checkMessage(L).Payload))
		return 1
	}),
}

var payloadMethods = map[string]lua.LGFunction{
	"data": func(L *lua.LState) int {
		ud, ok := L.Get(1).(*lua.LUserData)
		var v value.Value
		if ok {
			v, ok = ud.Value.(value.Value)
		}
		if !ok {
			L.RaiseError("payload:data: call it with ':' on a payload, as in msg:payload():data()")
		}
		L.Push(toLua(L, v))
		return 1
	},
}

func checkMessage(L *lua.LState) process.Message {
	ud, ok := L.Get(1).(*lua.LUserData)
	if ok {
		if m, ok := ud.Value.(process.Message); ok {
			return m
		}
	}
	L.RaiseError("message methods are called with ':', as in msg:topic()")
	return process.Message{}
}

// eventTable turns a process event into the table Lua code sees:
// {kind=, from=, result={value=, error=}, reason=}.
func eventTable(L *lua.LState, e process.Event) *lua.LTable {
	t := L.CreateTable(0, 4)
	t.RawSetString("kind", lua.LString(e.Kind.String()))
	if !e.From.IsZero() {
		t.RawSetString("from", lua.LString(e.From.String()))
	}
	switch e.Kind {
	case process.EventExit, process.EventLinkDown:
		r := L.CreateTable(0, 2)
		r.RawSetString("value", toLua(L, e.Result.Value))
		if e.Result.Err != nil {
			r.RawSetString("error", lua.LString(exitText(e.Result.Err)))
		}
		t.RawSetString("result", r)
	case process.EventCancel:
		t.RawSetString("reason", lua.LString(e.Reason))
	}
	return t
}

// exitText is how an exit reason reads in Lua: the runtime's reasons by
// their short names ("noproc", "terminated"), others by their message.
func exitText(err error) string {
	for _, e := range []error{process.ErrNoProc, process.ErrNoConnection, process.ErrTerminated} {
		if errors.Is(err, e) && !errors.Is(err, process.ErrLinkDown) {
			return e.Error()
		}
	}
	return err.Error()
}
