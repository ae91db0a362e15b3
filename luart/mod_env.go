package luart

import (
	"errors"
	"slices"

	lua "github.com/yuin/gopher-lua"
)

// The env module: the app's declared variables (env.variable entries),
// as the original runtime has them. env.get(name) returns the value, or
// nil and an error; env.set(name, value) returns true, or nil and an
// error; env.get_all() returns a table of every public variable that has
// a value. A name is a variable's public name or its entry id.

// Env is what the env module reads and writes: the app's variables.
type Env interface {
	// Get returns the value of a variable; an error wrapping ErrNoVariable
	// when none is declared under name, or ErrNoValue when it has none.
	Get(name string) (string, error)
	// Set gives a variable a value.
	Set(name, value string) error
	// All returns the public variables that have a value.
	All() map[string]string
}

// Errors of Env.
var (
	// ErrNoVariable: no env.variable entry has that public name or id.
	ErrNoVariable = errors.New("no such variable")
	// ErrNoValue: the variable's storage holds no value and it has no default.
	ErrNoValue = errors.New("variable has no value")
	// ErrReadOnly: the variable or its storage cannot be written.
	ErrReadOnly = errors.New("variable is read-only")
)

// maxEnvValue bounds a value env.set may store.
const maxEnvValue = 64 << 10

var envFuncs = map[string]lua.LGFunction{
	"get":     bind((*state).envGet),
	"set":     bind((*state).envSet),
	"get_all": bind((*state).envGetAll),
}

func (s *state) envGet(L *lua.LState) int {
	name := checkString(L, 1, "env.get", "name")
	if name == "" {
		return pushNilErr(L, "env.get: the name is empty")
	}
	if s.rt.opts.Env == nil {
		return pushNilErr(L, "env.get: no variable "+cutArg(name)+" is declared (declare it as an env.variable entry)")
	}
	v, err := s.rt.opts.Env.Get(name)
	if err != nil {
		return pushNilErr(L, "env.get: "+err.Error())
	}
	L.Push(lua.LString(v))
	return 1
}

func (s *state) envSet(L *lua.LState) int {
	name := checkString(L, 1, "env.set", "name")
	val := checkString(L, 2, "env.set", "value")
	switch {
	case name == "":
		return pushNilErr(L, "env.set: the name is empty")
	case len(val) > maxEnvValue:
		return pushNilErr(L, "env.set: the value is longer than 64 KiB")
	case s.rt.opts.Env == nil:
		return pushNilErr(L, "env.set: no variable "+cutArg(name)+" is declared (declare it as an env.variable entry)")
	}
	if err := s.rt.opts.Env.Set(name, val); err != nil {
		return pushNilErr(L, "env.set: "+err.Error())
	}
	L.Push(lua.LTrue)
	return 1
}

func (s *state) envGetAll(L *lua.LState) int {
	var all map[string]string
	if s.rt.opts.Env != nil {
		all = s.rt.opts.Env.All()
	}
	t := L.CreateTable(0, len(all))
	L.Push(t) // on the stack while it grows
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		L.ChargeSet(t, lua.LString(k))
		t.RawSetString(k, lua.LString(all[k]))
	}
	return 1
}

// pushNilErr pushes nil and an error text (cut after maxErrorText bytes).
func pushNilErr(L *lua.LState, msg string) int {
	L.Push(lua.LNil)
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText]
	}
	L.Push(lua.LString(msg))
	return 2
}
