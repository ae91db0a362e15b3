package luart

import (
	lua "github.com/yuin/gopher-lua"
)

// The ctx module reads the context values a process was spawned with
// (process.with_context; see mod_spawner.go): ctx.get(key) returns the
// value, or nil and an error; ctx.all() returns a table of them all. A
// handler and a process spawned without context values have none.

var ctxFuncs = map[string]lua.LGFunction{
	"get": bind(func(s *state, L *lua.LState) int {
		key := checkString(L, 1, "ctx.get", "key")
		if key == "" {
			return pushNilErr(L, "ctx.get: the key is empty")
		}
		v, ok := s.ctxValues.Get(key)
		if !ok {
			return pushNilErr(L, "ctx.get: no context value "+cutArg(key))
		}
		L.Push(toLua(L, v))
		return 1
	}),
	"all": bind(func(s *state, L *lua.LState) int {
		if s.ctxValues.IsNil() {
			L.Push(L.CreateTable(0, 0))
			return 1
		}
		L.Push(toLua(L, s.ctxValues))
		return 1
	}),
}
