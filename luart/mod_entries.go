package luart

import (
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/value"
)

// The registry module reads the app's entries, as the original runtime's
// does: registry.get(id) returns {id, kind, meta, data} or nil and an
// error; registry.find(filter) returns the list of entries that match
// every field of filter; registry.parse_id(id) returns {ns, name}.
//
// A filter field is ".kind", ".ns" or ".name" (the entry's own), "meta.K"
// (meta field K), a "meta" table (each of its fields, as meta.K), or any
// other name K (meta field K). A value matches when it is equal; meta
// values are compared as text when the filter's is a string. The entries
// cannot be changed from Lua.

// Registry is what the registry module reads: the app's entries.
type Registry interface {
	// Entries returns every entry, in a stable order.
	Entries() []RegistryEntry
	// Entry returns the entry of an id.
	Entry(id string) (RegistryEntry, bool)
}

// RegistryEntry is one entry as the registry module shows it.
type RegistryEntry struct {
	ID   string
	Kind string
	Meta value.Value // a map, or nil
	Data value.Value // the entry's fields as written (a map), or nil
}

// maxFindResults bounds what registry.find returns.
const maxFindResults = 10000

var registryFuncs = map[string]lua.LGFunction{
	"get":             bind((*state).registryGet),
	"find":            bind((*state).registryFind),
	"parse_id":        registryParseID,
	"snapshot":        bind((*state).registrySnapshot),
	"snapshot_at":     bind((*state).registrySnapshotAt),
	"current_version": bind((*state).registryCurrentVersion),
	"versions":        bind((*state).registryVersions),
	"history":         bind((*state).registryHistory),
	"apply_version":   registryApplyVersion,
	"build_delta":     registryBuildDelta,
}

func (s *state) registryGet(L *lua.LState) int {
	id := checkString(L, 1, "registry.get", "id")
	var e RegistryEntry
	ok := false
	if r := s.rt.opts.Registry; r != nil {
		e, ok = r.Entry(id)
	}
	if !ok {
		return pushNilErr(L, "registry.get: no entry "+cutArg(id))
	}
	L.Push(registryEntryLua(L, e))
	return 1
}

func (s *state) registryFind(L *lua.LState) int {
	return findEntries(L, 1, "registry.find", s.rt.opts.Registry)
}

// findEntries pushes the list of r's entries matching the filter at
// argument n.
func findEntries(L *lua.LState, n int, fn string, r Registry) int {
	filter := checkTable(L, n, fn, "filter")
	type cond struct {
		field, key string // field: ".kind", ".ns", ".name" or "meta"
		want       lua.LValue
	}
	var conds []cond
	bad := ""
	filter.ForEach(func(k, v lua.LValue) {
		ks, ok := k.(lua.LString)
		if !ok {
			bad = "a filter's keys are strings"
			return
		}
		name := string(ks)
		switch {
		case name == ".kind" || name == ".ns" || name == ".name":
			conds = append(conds, cond{field: name, want: v})
		case name == "meta":
			mt, ok := v.(*lua.LTable)
			if !ok {
				bad = "meta must be a table of meta fields"
				return
			}
			mt.ForEach(func(mk, mv lua.LValue) {
				conds = append(conds, cond{field: "meta", key: mk.String(), want: mv})
			})
		default:
			conds = append(conds, cond{field: "meta", key: strings.TrimPrefix(name, "meta."), want: v})
		}
	})
	if bad != "" {
		argError(L, n, fn, "filter", bad)
	}
	return pushEntries(L, r, func(e RegistryEntry) bool {
		for _, c := range conds {
			if !registryMatch(e, c.field, c.key, c.want) {
				return false
			}
		}
		return true
	})
}

// pushEntries pushes the list of r's entries that keep accepts, at most
// maxFindResults of them.
func pushEntries(L *lua.LState, r Registry, keep func(RegistryEntry) bool) int {
	out := L.CreateTable(0, 0)
	L.Push(out) // on the stack while it grows
	if r == nil {
		return 1
	}
	n := 0
	for _, e := range r.Entries() {
		if !keep(e) {
			continue
		}
		if n++; n > maxFindResults {
			break
		}
		L.ChargeSet(out, lua.LNumber(n))
		out.RawSetInt(n, registryEntryLua(L, e))
	}
	return 1
}

func registryMatch(e RegistryEntry, field, key string, want lua.LValue) bool {
	ns, name, _ := strings.Cut(e.ID, ":")
	switch field {
	case ".kind":
		return want.String() == e.Kind
	case ".ns":
		return want.String() == ns
	case ".name":
		return want.String() == name
	}
	got, ok := e.Meta.Get(key)
	if !ok {
		return false
	}
	switch w := want.(type) {
	case lua.LString:
		if t, ok := got.Text(); ok {
			return t == string(w)
		}
		return got.String() == string(w)
	case lua.LNumber:
		f, ok := got.Number()
		return ok && f == float64(w)
	case lua.LBool:
		b, ok := got.Bool()
		return ok && b == bool(w)
	}
	return false
}

// registryEntryLua makes the Lua table of an entry, charged to L.
func registryEntryLua(L *lua.LState, e RegistryEntry) *lua.LTable {
	t := L.CreateTable(0, 4)
	L.Push(t)
	t.RawSetString("id", lua.LString(e.ID))
	t.RawSetString("kind", lua.LString(e.Kind))
	meta, data := lua.LValue(L.CreateTable(0, 0)), lua.LValue(L.CreateTable(0, 0))
	if e.Meta.Kind() == value.KindMap {
		meta = toLua(L, e.Meta)
	}
	t.RawSetString("meta", meta)
	if e.Data.Kind() == value.KindMap {
		data = toLua(L, e.Data)
	}
	t.RawSetString("data", data)
	L.Pop(1)
	return t
}

func registryParseID(L *lua.LState) int {
	id := checkString(L, 1, "registry.parse_id", "id")
	ns, name, ok := strings.Cut(id, ":")
	if !ok {
		return pushNilErr(L, "registry.parse_id: "+cutArg(id)+" is not namespace:name")
	}
	t := L.CreateTable(0, 2)
	t.RawSetString("ns", lua.LString(ns))
	t.RawSetString("name", lua.LString(name))
	L.Push(t)
	return 1
}
