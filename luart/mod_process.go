package luart

import (
	"errors"
	"strings"

	lua "github.com/yuin/gopher-lua"

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

func (s *state) openProcess() *lua.LTable {
	L := s.L
	t := L.CreateTable(0, 24)
	L.SetFuncs(t, map[string]lua.LGFunction{
		"pid":                    s.procPID,
		"send":                   s.procSend,
		"spawn":                  s.spawnFn("process.spawn", process.SpawnOptions{}),
		"spawn_monitored":        s.spawnFn("process.spawn_monitored", process.SpawnOptions{Monitor: true}),
		"spawn_linked":           s.spawnFn("process.spawn_linked", process.SpawnOptions{Link: true}),
		"spawn_linked_monitored": s.spawnFn("process.spawn_linked_monitored", process.SpawnOptions{Link: true, Monitor: true}),
		"monitor":                s.relFn("process.monitor", (*process.Process).Monitor),
		"unmonitor":              s.relFn("process.unmonitor", (*process.Process).Unmonitor),
		"link":                   s.relFn("process.link", (*process.Process).Link),
		"unlink":                 s.relFn("process.unlink", (*process.Process).Unlink),
		"cancel":                 s.procCancel,
		"terminate":              s.procTerminate,
		"set_options":            s.procSetOptions,
		"inbox":                  s.procInbox,
		"events":                 s.procEvents,
	})
	reg := L.CreateTable(0, 3)
	L.SetFuncs(reg, map[string]lua.LGFunction{
		"register":   s.regRegister,
		"lookup":     s.regLookup,
		"unregister": s.regUnregister,
	})
	t.RawSetString("registry", s.readOnly("process.registry", reg))
	ev := L.CreateTable(0, 3)
	for _, k := range []process.EventKind{process.EventExit, process.EventLinkDown, process.EventCancel} {
		ev.RawSetString(k.String(), lua.LString(k.String()))
	}
	t.RawSetString("event", s.readOnly("process.event", ev))
	return t
}

// self returns the running process, raising an error naming fn when the
// code is an HTTP handler, which is not a process.
func (s *state) self(fn string) *process.Process {
	if s.proc == nil {
		s.L.RaiseError("%s: only a process can do this, and this code is a function.lua handler", fn)
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
func (s *state) checkDest(n int, fn string) (pid.PID, error) {
	dest := checkString(s.L, n, fn, "destination")
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
	payload := checkValue(L, 3, fn, "payload")
	return pushResult(L, s.rt.node.SendDest(s.selfPID(), dest, topic, payload))
}

func (s *state) spawnFn(fn string, opts process.SpawnOptions) lua.LGFunction {
	return func(L *lua.LState) int {
		id := checkString(L, 1, fn, "entry id")
		host := checkString(L, 2, fn, "process host")
		args := make([]value.Value, 0, max(L.GetTop()-2, 0))
		for i := 3; i <= L.GetTop(); i++ {
			args = append(args, checkValue(L, i, fn, "spawn argument"))
		}
		o := opts
		if o.Link || o.Monitor {
			o.Parent = s.self(fn).PID()
		}
		prog, err := s.rt.lookupRelative(id, s.prog.namespace())
		if err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString(fn + ": " + err.Error()))
			return 2
		}
		p, err := s.rt.Spawn(host, prog, args, o)
		if err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString(fn + ": " + err.Error()))
			return 2
		}
		L.Push(lua.LString(p.String()))
		return 1
	}
}

func (s *state) relFn(fn string, op func(*process.Process, pid.PID) error) lua.LGFunction {
	return func(L *lua.LState) int {
		self := s.self(fn)
		target, err := s.checkDest(1, fn)
		if err == nil {
			err = op(self, target)
		}
		return pushResult(L, err)
	}
}

func (s *state) procCancel(L *lua.LState) int {
	const fn = "process.cancel"
	target, err := s.checkDest(1, fn)
	reason := optString(L, 2, fn, "reason", "")
	if err == nil {
		err = s.rt.node.Cancel(s.selfPID(), target, reason)
	}
	return pushResult(L, err)
}

func (s *state) procTerminate(L *lua.LState) int {
	target, err := s.checkDest(1, "process.terminate")
	if err == nil {
		err = s.rt.node.Terminate(target)
	}
	return pushResult(L, err)
}

func (s *state) procSetOptions(L *lua.LState) int {
	const fn = "process.set_options"
	self := s.self(fn)
	opts := checkTable(L, 1, fn, "options")
	var bad string
	opts.ForEach(func(k, v lua.LValue) {
		switch {
		case bad != "":
		case k == lua.LString("trap_links"):
			b, ok := v.(lua.LBool)
			if !ok {
				bad = "trap_links must be a boolean, got " + v.Type().String()
				return
			}
			self.SetTrapLinks(bool(b))
		default:
			bad = "unknown option " + k.String() + " (known: trap_links)"
		}
	})
	if bad != "" {
		argError(L, 1, fn, "options", bad)
	}
	return 0
}

func (s *state) procInbox(L *lua.LState) int {
	p := s.self("process.inbox")
	L.Push(s.newChannelUD(&inboxSource{s: s, p: p}))
	return 1
}

func (s *state) procEvents(L *lua.LState) int {
	p := s.self("process.events")
	L.Push(s.newChannelUD(&eventSource{s: s, p: p}))
	return 1
}

func (s *state) regRegister(L *lua.LState) int {
	const fn = "process.registry.register"
	name := checkString(L, 1, fn, "name")
	var target pid.PID
	var err error
	if L.Get(2) == lua.LNil {
		target = s.self(fn).PID()
	} else {
		target, err = s.checkDest(2, fn)
	}
	if err == nil {
		err = s.rt.node.Register(name, target)
	}
	return pushResult(L, err)
}

func (s *state) regLookup(L *lua.LState) int {
	name := checkString(L, 1, "process.registry.lookup", "name")
	p, ok := s.rt.node.Lookup(name)
	if !ok {
		L.Push(lua.LNil)
		L.Push(lua.LString("process.registry.lookup: no process is registered as " + name))
		return 2
	}
	L.Push(lua.LString(p.String()))
	return 1
}

func (s *state) regUnregister(L *lua.LState) int {
	name := checkString(L, 1, "process.registry.unregister", "name")
	L.Push(lua.LBool(s.rt.node.Unregister(name)))
	return 1
}

// Messages and payloads as userdata.

func (s *state) newMessageUD(m process.Message) *lua.LUserData {
	ud := s.L.NewUserData()
	ud.Value = m
	ud.Metatable = s.typeMeta(messageType, map[string]lua.LGFunction{
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
		"payload": func(L *lua.LState) int {
			m := checkMessage(L)
			p := L.NewUserData()
			p.Value = m.Payload
			p.Metatable = s.typeMeta(payloadType, map[string]lua.LGFunction{
				"data": func(L *lua.LState) int {
					v, ok := L.CheckUserData(1).Value.(value.Value)
					if !ok {
						L.RaiseError("payload:data: call it with ':' on a payload")
					}
					L.Push(toLua(L, v))
					return 1
				},
			})
			L.Push(p)
			return 1
		},
	})
	return ud
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

// typeMeta returns the metatable of a userdata type, made on first use.
func (s *state) typeMeta(name string, methods map[string]lua.LGFunction) *lua.LTable {
	if mt, ok := s.L.GetTypeMetatable(name).(*lua.LTable); ok {
		return mt
	}
	mt := s.L.NewTypeMetatable(name)
	idx := s.L.CreateTable(0, len(methods))
	s.L.SetFuncs(idx, methods)
	mt.RawSetString("__index", idx)
	mt.RawSetString("__metatable", lua.LString("locked"))
	short := name[strings.LastIndexByte(name, '.')+1:]
	mt.RawSetString("__tostring", s.L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(short))
		return 1
	}))
	return mt
}

// eventTable turns a process event into the table Lua code sees:
// {kind=, from=, result={value=, error=}, reason=}.
func (s *state) eventTable(e process.Event) *lua.LTable {
	L := s.L
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
