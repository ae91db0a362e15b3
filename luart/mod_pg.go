package luart

import (
	"fmt"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/pg"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

// The pg module: process groups (package pg, docs/pg.md). pg.open(id)
// returns an instance of a pg.scope; its methods return their results
// and nil, or nil (false for the boolean ones) and an error message:
// arguments that are missing, empty or too long are errors returned, not
// raised, as in the original runtime.

const (
	pgType    = "wsrelay.pg"
	pgSubType = "wsrelay.pg.subscription"
)

// pgInstance is what pg.open returns: a scope, as one state uses it.
type pgInstance struct {
	sc       *pg.Scope
	released bool
	subs     map[*pgSub]struct{} // open subscriptions, closed with the instance
}

// pgSub is a subscription as Lua sees it; it is also the source its
// channel receives from.
type pgSub struct {
	inst *pgInstance
	sub  *pg.Subscription
	L    *lua.LState
	ch   *lua.LUserData // sub:channel(), made once

	wakes bool // its events wake the owning process (pg.Subscription.SetWake)
}

func (ps *pgSub) poll() (lua.LValue, bool, bool) {
	e, ok, closed := ps.sub.Next()
	if !ok {
		return lua.LNil, false, closed
	}
	return pgEventTable(ps.L, e), true, false
}
func (ps *pgSub) ready() <-chan struct{} { return ps.sub.Ready() }
func (ps *pgSub) name() string           { return "pg subscription" }

// pgEventTable is an event as the original runtime gives it:
// {system="pg", kind=, path=group, data={Group=, PIDs={...}}}.
func pgEventTable(L *lua.LState, e pg.Event) *lua.LTable {
	t := L.CreateTable(0, 4)
	t.RawSetString("system", lua.LString("pg"))
	t.RawSetString("kind", lua.LString(e.Kind.String()))
	t.RawSetString("path", lua.LString(e.Group))
	d := L.CreateTable(0, 2)
	d.RawSetString("Group", lua.LString(e.Group))
	d.RawSetString("PIDs", pidList(L, e.PIDs))
	t.RawSetString("data", d)
	return t
}

func pidList(L *lua.LState, ps []pid.PID) *lua.LTable {
	t := L.CreateTable(len(ps), 0)
	for i, p := range ps {
		t.RawSetInt(i+1, lua.LString(p.String()))
	}
	return t
}

func (b *libBuilder) pgLib() *lua.LTable {
	return b.funcs(map[string]lua.LGFunction{"open": bind((*state).pgOpen)})
}

var pgMethods = map[string]lua.LGFunction{
	"join":               bind((*state).pgJoin),
	"leave":              bind((*state).pgLeave),
	"get_members":        bind(pgMembers("get_members", (*pg.Scope).Members)),
	"get_local_members":  bind(pgMembers("get_local_members", (*pg.Scope).LocalMembers)),
	"which_groups":       bind(pgGroups("which_groups", (*pg.Scope).Groups)),
	"which_local_groups": bind(pgGroups("which_local_groups", (*pg.Scope).LocalGroups)),
	"broadcast":          bind(pgBroadcast("broadcast", (*pg.Scope).Broadcast)),
	"broadcast_local":    bind(pgBroadcast("broadcast_local", (*pg.Scope).BroadcastLocal)),
	"monitor":            bind((*state).pgMonitor),
	"events":             bind((*state).pgEvents),
	"release":            pgRelease,
}

var pgSubMethods = map[string]lua.LGFunction{
	"channel": pgSubChannel,
	"close":   pgSubClose,
}

// pgOpen: pg.open(id) returns the instance of the pg.scope entry id (a
// name without a namespace is looked up in the entry's own).
func (s *state) pgOpen(L *lua.LState) int {
	id, ok := L.Get(1).(lua.LString)
	if !ok || id == "" {
		return pushErr(L, 1, "pg.open: the scope id must be a non-empty string, as in pg.open(\"app:pg\")")
	}
	svc := s.rt.opts.Groups
	var sc *pg.Scope
	if svc != nil {
		sc, ok = svc.Scope(string(id))
		if !ok && !strings.Contains(string(id), ":") {
			sc, ok = svc.Scope(s.prog.namespace() + ":" + string(id))
		}
	}
	if sc == nil {
		return pushErr(L, 1, fmt.Sprintf("pg.open: %s %q (a pg.scope entry with lifecycle.auto_start not false)", pg.ErrUnknownScope, string(id)))
	}
	L.Push(s.newUserData(L, pgType, &pgInstance{sc: sc, subs: map[*pgSub]struct{}{}}))
	L.Push(lua.LNil)
	return 2
}

// pushErr pushes n nils (false for a boolean result, n = 0) and msg.
func pushErr(L *lua.LState, n int, msg string) int {
	if n == 0 {
		L.Push(lua.LFalse)
		n = 1
	} else {
		for range n {
			L.Push(lua.LNil)
		}
	}
	L.Push(lua.LString(msg))
	return n + 1
}

// checkPG returns the instance the method is called on; msg is not ""
// when it was released.
func checkPG(L *lua.LState, fn string) (inst *pgInstance, msg string) {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if inst, ok := ud.Value.(*pgInstance); ok {
			if inst.released {
				return inst, "pg: " + fn + ": the instance was released"
			}
			return inst, ""
		}
	}
	L.RaiseError("pg: %s: call it with ':' on what pg.open returned, as in g:%s(...)", fn, fn)
	return nil, ""
}

// pgGroupArg reads argument n: a group name, or (list true) a list of
// them.
func pgGroupArg(L *lua.LState, n int, list bool) ([]string, string) {
	switch v := L.Get(n).(type) {
	case lua.LString:
		return []string{string(v)}, ""
	case *lua.LTable:
		if !list {
			break
		}
		k := v.Len()
		if k == 0 {
			return nil, "the list of groups is empty"
		}
		if k > pgMaxListed {
			return nil, "a list of " + strconv.Itoa(k) + " groups; at most " + strconv.Itoa(pgMaxListed)
		}
		out := make([]string, 0, k)
		for i := 1; i <= k; i++ {
			s, ok := v.RawGetInt(i).(lua.LString)
			if !ok {
				return nil, "item " + strconv.Itoa(i) + " of the list of groups is not a string"
			}
			out = append(out, string(s))
		}
		return out, ""
	case *lua.LNilType:
		return nil, "the group is missing"
	}
	if list {
		return nil, "the group must be a string or a list of strings, got " + L.Get(n).Type().String()
	}
	return nil, "the group must be a string, got " + L.Get(n).Type().String()
}

// pgMaxListed bounds the groups one join or leave lists.
const pgMaxListed = 1024

// pgMember is who joins or leaves: the calling process, or the local
// process whose PID argument n gives (a relay client, say).
func (s *state) pgMember(L *lua.LState, n int, fn string) (pid.PID, string) {
	if v, ok := L.Get(n).(lua.LString); ok {
		p, err := pid.Parse(string(v))
		if err != nil {
			return pid.PID{}, err.Error()
		}
		return p, ""
	}
	if L.Get(n) != lua.LNil {
		return pid.PID{}, "the process must be a PID string, got " + L.Get(n).Type().String()
	}
	return s.self(L, "pg: "+fn).PID(), ""
}

func (s *state) pgJoin(L *lua.LState) int  { return s.pgJoinLeave(L, "join", (*pg.Scope).Join) }
func (s *state) pgLeave(L *lua.LState) int { return s.pgJoinLeave(L, "leave", (*pg.Scope).Leave) }

func (s *state) pgJoinLeave(L *lua.LState, fn string, op func(*pg.Scope, pid.PID, ...string) error) int {
	inst, msg := checkPG(L, fn)
	if msg != "" {
		return pushErr(L, 0, msg)
	}
	groups, msg := pgGroupArg(L, 2, true)
	if msg != "" {
		return pushErr(L, 0, "pg: "+fn+": "+msg)
	}
	who, msg := s.pgMember(L, 3, fn)
	if msg != "" {
		return pushErr(L, 0, "pg: "+fn+": "+msg)
	}
	return pushResult(L, op(inst.sc, who, groups...))
}

func pgMembers(fn string, get func(*pg.Scope, string) []pid.PID) func(*state, *lua.LState) int {
	return func(s *state, L *lua.LState) int {
		inst, msg := checkPG(L, fn)
		if msg != "" {
			return pushErr(L, 1, msg)
		}
		g, msg := pgGroupArg(L, 2, false)
		if msg == "" && g[0] == "" {
			msg = "the group is empty"
		}
		if msg != "" {
			return pushErr(L, 1, "pg: "+fn+": "+msg)
		}
		L.Push(pidList(L, get(inst.sc, g[0])))
		L.Push(lua.LNil)
		return 2
	}
}

func pgGroups(fn string, get func(*pg.Scope) []string) func(*state, *lua.LState) int {
	return func(s *state, L *lua.LState) int {
		inst, msg := checkPG(L, fn)
		if msg != "" {
			return pushErr(L, 1, msg)
		}
		gs := get(inst.sc)
		t := L.CreateTable(len(gs), 0)
		for i, g := range gs {
			t.RawSetInt(i+1, lua.LString(g))
		}
		L.Push(t)
		L.Push(lua.LNil)
		return 2
	}
}

// pgBroadcast: g:broadcast(group, topic, payload) sends from the calling
// process (from nobody in a function.lua handler). A message carries one
// payload, as with process.send.
func pgBroadcast(fn string, send func(*pg.Scope, pid.PID, string, string, value.Value) error) func(*state, *lua.LState) int {
	return func(s *state, L *lua.LState) int {
		inst, msg := checkPG(L, fn)
		if msg != "" {
			return pushErr(L, 0, msg)
		}
		g, msg := pgGroupArg(L, 2, false)
		if msg != "" {
			return pushErr(L, 0, "pg: "+fn+": "+msg)
		}
		topic, ok := L.Get(3).(lua.LString)
		if !ok {
			return pushErr(L, 0, "pg: "+fn+": the topic must be a string, got "+L.Get(3).Type().String())
		}
		if L.GetTop() > 4 {
			L.RaiseError("pg: %s: %d payloads given; a message carries one: put the values in a table, as in g:%s(group, topic, {a, b, c})", fn, L.GetTop()-3, fn)
		}
		payload := s.sendValue(L, 4, "pg: "+fn, "payload")
		return pushResult(L, send(inst.sc, s.selfPID(), g[0], string(topic), payload))
	}
}

func (s *state) pgMonitor(L *lua.LState) int {
	inst, msg := checkPG(L, "monitor")
	if msg != "" {
		return pushErr(L, 2, msg)
	}
	g, msg := pgGroupArg(L, 2, false)
	if msg != "" {
		return pushErr(L, 2, "pg: monitor: "+msg)
	}
	s.self(L, "pg: monitor") // a subscription lives as long as its process
	sub, members, err := inst.sc.Monitor(g[0])
	if err != nil {
		return pushErr(L, 2, err.Error())
	}
	L.Push(s.pgNewSub(L, inst, sub))
	L.Push(pidList(L, members))
	L.Push(lua.LNil)
	return 3
}

func (s *state) pgEvents(L *lua.LState) int {
	inst, msg := checkPG(L, "events")
	if msg != "" {
		return pushErr(L, 2, msg)
	}
	s.self(L, "pg: events")
	sub, snap, err := inst.sc.Events()
	if err != nil {
		return pushErr(L, 2, err.Error())
	}
	L.Push(s.pgNewSub(L, inst, sub))
	t := L.CreateTable(0, len(snap))
	for g, ms := range snap {
		t.RawSetString(g, pidList(L, ms))
	}
	L.Push(t)
	L.Push(lua.LNil)
	return 3
}

func (s *state) pgNewSub(L *lua.LState, inst *pgInstance, sub *pg.Subscription) *lua.LUserData {
	ps := &pgSub{inst: inst, sub: sub, L: L}
	if s.task != nil {
		// A process waiting on the subscription parks on the scheduler
		// (parks in mod_channel.go): its events wake the process.
		sub.SetWake(s.task.wake)
		ps.wakes = true
	}
	ps.ch = s.newUserData(L, channelType, ps)
	inst.subs[ps] = struct{}{}
	s.trackSub(ps)
	return s.newUserData(L, pgSubType, ps)
}

// trackSub keeps ps for the state's close, which closes the state's
// subscriptions. Those that ended (closed by code, overflowed) are
// forgotten each time the set doubles, so that a script opening
// subscriptions without end keeps at most twice the open ones (which the
// scope bounds) plus 64.
func (s *state) trackSub(ps *pgSub) {
	if s.pgSubs == nil {
		s.pgSubs = map[*pgSub]struct{}{}
	}
	if len(s.pgSubs) >= max(s.pgPrune, 64) {
		for o := range s.pgSubs {
			if o.sub.Ended() {
				delete(s.pgSubs, o)
				delete(o.inst.subs, o)
			}
		}
		s.pgPrune = 2 * len(s.pgSubs)
	}
	s.pgSubs[ps] = struct{}{}
}

func checkPGSub(L *lua.LState, fn string) *pgSub {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if ps, ok := ud.Value.(*pgSub); ok {
			return ps
		}
	}
	L.RaiseError("pg: subscription:%s: call it with ':' on what monitor or events returned, as in sub:%s()", fn, fn)
	return nil
}

// pgSubChannel: sub:channel() is a channel of the subscription's events;
// receive gives nil, false once it has ended.
func pgSubChannel(L *lua.LState) int {
	L.Push(checkPGSub(L, "channel").ch)
	return 1
}

// pgSubClose: sub:close() ends the subscription and drops its events;
// sub:close({flush = true}) keeps those it holds for the channel.
func pgSubClose(L *lua.LState) int {
	ps := checkPGSub(L, "close")
	flush := false
	if t, ok := L.Get(2).(*lua.LTable); ok {
		flush = lua.LVAsBool(t.RawGetString("flush"))
	}
	if flush {
		ps.sub.End()
	} else {
		ps.sub.Close()
	}
	delete(ps.inst.subs, ps)
	L.Push(lua.LTrue)
	return 1
}

// pgRelease: g:release() closes the instance's subscriptions; every
// method fails afterwards. Memberships stay until left or the process
// ends.
func pgRelease(L *lua.LState) int {
	inst, _ := checkPG(L, "release")
	if !inst.released {
		inst.released = true
		for ps := range inst.subs {
			ps.sub.Close()
		}
		clear(inst.subs)
	}
	L.Push(lua.LTrue)
	return 1
}
