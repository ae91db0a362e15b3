package luart

import (
	"slices"
	"strconv"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// Spawners, as the original runtime has them: process.with_context(values)
// and process.with_options(options) return a spawner, which is never
// changed (each with_ method returns a new one):
//
//	spawner:with_context(values)     more context values
//	spawner:with_name(name)          the child registers this name
//	spawner:with_message(topic, v)   a message sent to the child once spawned
//	spawner:with_options(options)    spawn options: none are known here, and
//	                                 any given (the original's network) is an error
//	spawner:spawn(id, host, ...)     and spawn_monitored, spawn_linked, spawn_linked_monitored
//	spawner:exec(id, host, ...)      run the child and wait for its result (exec.go)
//
// The child reads its context values with the ctx module (ctx.get(key),
// ctx.all()); a process passes its own on to what it spawns, and a
// spawner's values are added to them. with_actor and with_scope are
// security, which wsrelay does not have: they raise an error saying so.

const (
	spawnerType = "wsrelay.process.spawner"
	// maxSpawnerItems bounds a spawner's context values and its messages.
	maxSpawnerItems = 64
)

type spawnMessage struct {
	topic   string
	payload value.Value
}

type spawner struct {
	ctx      map[string]value.Value
	name     string
	messages []spawnMessage
}

func (sp *spawner) clone() *spawner {
	c := &spawner{ctx: make(map[string]value.Value, len(sp.ctx)), name: sp.name, messages: slices.Clone(sp.messages)}
	for k, v := range sp.ctx {
		c.ctx[k] = v
	}
	return c
}

// size is about the bytes a spawner holds.
func (sp *spawner) size() int {
	n := 64 + len(sp.name)
	for k, v := range sp.ctx {
		n += len(k) + v.Size()
	}
	for _, m := range sp.messages {
		n += len(m.topic) + m.payload.Size()
	}
	return n
}

func (s *state) pushSpawner(L *lua.LState, sp *spawner) int {
	L.Charge(sp.size())
	L.Push(s.newUserData(L, spawnerType, sp))
	return 1
}

// inheritedContext is the spawner a process starts from: its own context.
func (s *state) inheritedContext() *spawner {
	sp := &spawner{ctx: map[string]value.Value{}}
	for k, v := range s.ctxValues.Fields() {
		sp.ctx[k] = v
	}
	return sp
}

// procWithContext is process.with_context(values).
func (s *state) procWithContext(L *lua.LState) int {
	sp := s.inheritedContext()
	s.addContext(L, sp, 1, "process.with_context")
	return s.pushSpawner(L, sp)
}

// procWithOptions is process.with_options(options).
func (s *state) procWithOptions(L *lua.LState) int {
	checkSpawnOptions(L, 1, "process.with_options")
	return s.pushSpawner(L, s.inheritedContext())
}

func (s *state) addContext(L *lua.LState, sp *spawner, n int, fn string) {
	t := checkTable(L, n, fn, "values")
	t.ForEach(func(k, v lua.LValue) {
		key, ok := k.(lua.LString)
		if !ok {
			argError(L, n, fn, "values", "context keys are strings")
		}
		if _, had := sp.ctx[string(key)]; !had && len(sp.ctx) >= maxSpawnerItems {
			argError(L, n, fn, "values", "a context holds at most 64 values")
		}
		L.Push(v)
		sp.ctx[string(key)] = s.sendValue(L, L.GetTop(), fn, "value "+cutArg(string(key)))
		L.Pop(1)
	})
}

func checkSpawnOptions(L *lua.LState, n int, fn string) {
	if L.Get(n) == lua.LNil {
		return
	}
	t := checkTable(L, n, fn, "options")
	t.ForEach(func(k, _ lua.LValue) {
		if k == lua.LString("network") {
			argError(L, n, fn, "options", "network: wsrelay has no network.* entries to choose from; a process connects out through the node's own network")
		}
		name := describe(k)
		if ks, ok := k.(lua.LString); ok {
			name = strconv.Quote(cutArg(string(ks)))
		}
		argError(L, n, fn, "options", "wsrelay has no spawn option "+name+" (the original runtime's one option is network, which wsrelay does not have either)")
	})
}

func checkSpawner(L *lua.LState, fn string) *spawner {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if sp, ok := ud.Value.(*spawner); ok {
			return sp
		}
	}
	L.RaiseError("%s: call it with ':' on a spawner, as in process.with_context({...}):spawn(id, host)", fn)
	return nil
}

var spawnerMethods = map[string]lua.LGFunction{
	"with_context": bind(func(s *state, L *lua.LState) int {
		sp := checkSpawner(L, "spawner:with_context").clone()
		s.addContext(L, sp, 2, "spawner:with_context")
		return s.pushSpawner(L, sp)
	}),
	"with_name": bind(func(s *state, L *lua.LState) int {
		sp := checkSpawner(L, "spawner:with_name").clone()
		sp.name = checkString(L, 2, "spawner:with_name", "name")
		return s.pushSpawner(L, sp)
	}),
	"with_message": bind(func(s *state, L *lua.LState) int {
		const fn = "spawner:with_message"
		sp := checkSpawner(L, fn).clone()
		topic := checkString(L, 2, fn, "topic")
		if L.GetTop() > 3 {
			L.RaiseError("%s: %d payloads given; a message carries one: put the values in a table", fn, L.GetTop()-2)
		}
		if len(sp.messages) >= maxSpawnerItems {
			L.RaiseError("%s: a spawner holds at most 64 messages", fn)
		}
		sp.messages = append(sp.messages, spawnMessage{topic: topic, payload: s.sendValue(L, 3, fn, "payload")})
		return s.pushSpawner(L, sp)
	}),
	"with_options": bind(func(s *state, L *lua.LState) int {
		sp := checkSpawner(L, "spawner:with_options").clone()
		checkSpawnOptions(L, 2, "spawner:with_options")
		return s.pushSpawner(L, sp)
	}),
	"exec":                   bind(spawnerExec),
	"with_actor":             noSecurityFn("spawner:with_actor"),
	"with_scope":             noSecurityFn("spawner:with_scope"),
	"spawn":                  bind(spawnerSpawn("spawner:spawn", process.SpawnOptions{})),
	"spawn_monitored":        bind(spawnerSpawn("spawner:spawn_monitored", process.SpawnOptions{Monitor: true})),
	"spawn_linked":           bind(spawnerSpawn("spawner:spawn_linked", process.SpawnOptions{Link: true})),
	"spawn_linked_monitored": bind(spawnerSpawn("spawner:spawn_linked_monitored", process.SpawnOptions{Link: true, Monitor: true})),
}

func noSecurityFn(fn string) lua.LGFunction {
	return func(L *lua.LState) int {
		L.RaiseError("%s: wsrelay has no security actors or scopes; see docs/porting.md (Security)", fn)
		return 0
	}
}

func spawnerSpawn(fn string, opts process.SpawnOptions) func(*state, *lua.LState) int {
	return func(s *state, L *lua.LState) int {
		sp := checkSpawner(L, fn)
		L.Remove(1) // the arguments as process.spawn takes them
		o := opts
		o.Name = sp.name
		p, ok := s.spawnFrom(L, fn, o, value.FromMap(sp.ctx))
		if !ok {
			return 2
		}
		for _, m := range sp.messages {
			// A process just spawned has room in its mailbox for these:
			// if not, the child has already ended, and so they are not
			// lost to anyone.
			_ = s.rt.node.Send(s.selfPID(), p, m.topic, m.payload)
		}
		L.Push(lua.LString(p.String()))
		return 1
	}
}
