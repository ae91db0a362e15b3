package luart

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/value"
)

// The registry module's snapshots, versions and changesets, as the
// original runtime names them. The entries of a wsrelay app are those it
// loaded and never change while it runs, so there is one version, 1, and
// every snapshot is of it:
//
//	registry.snapshot()              a snapshot: entries(), get(id), find(filter),
//	                                 namespace(ns), version(), changes()
//	registry.snapshot_at(v)          the snapshot of version v (1), or nil, err
//	registry.current_version()       the version: id(), string(), previous(), next() (nil)
//	registry.versions()              {version}
//	registry.history()               versions(), get_version(n), snapshot_at(v)
//	registry.build_delta(from, to)   the operations from a list of entries to another
//
// A changeset (snap:changes()) records create, update and delete and
// lists them with ops(); its apply() and registry.apply_version(v) of
// another version return nil and an error saying that the registry
// cannot be changed at run time.

const (
	regSnapshotType = "wsrelay.registry.snapshot"
	regVersionType  = "wsrelay.registry.version"
	regHistoryType  = "wsrelay.registry.history"
	regChangesType  = "wsrelay.registry.changes"

	// theVersion is the one version of an app's registry.
	theVersion = 1
	// maxChangeOps bounds the operations a changeset records.
	maxChangeOps = 1000
)

// errNoChanges is what apply says.
const errNoChanges = "the registry of a wsrelay app cannot be changed at run time: change the app's YAML and start it again"

type regSnapshot struct{}
type regVersion struct{}
type regHistory struct{}

type regOp struct {
	kind  string // entry.create, entry.update, entry.delete
	entry value.Value
}

type regChanges struct{ ops []regOp }

func (s *state) pushRegUserData(L *lua.LState, typ string, v any) int {
	L.Push(s.newUserData(L, typ, v))
	return 1
}

func (s *state) registrySnapshot(L *lua.LState) int {
	return s.pushRegUserData(L, regSnapshotType, regSnapshot{})
}

// versionArg reads a version: a number, or a version of this module.
func versionArg(L *lua.LState, n int, fn string) (int64, bool) {
	switch v := L.Get(n).(type) {
	case lua.LNumber:
		return int64(v), float64(v) == float64(int64(v))
	case *lua.LUserData:
		if _, ok := v.Value.(regVersion); ok {
			return theVersion, true
		}
	}
	argError(L, n, fn, "version", "must be a version number or a version, got "+describe(L.Get(n)))
	return 0, false
}

func noVersion(L *lua.LState, fn string, v int64) int {
	return pushNilErr(L, fn+": no version "+strconv.FormatInt(v, 10)+": a wsrelay app's registry has one version, 1, the entries it loaded")
}

func (s *state) registrySnapshotAt(L *lua.LState) int {
	if v, ok := versionArg(L, 1, "registry.snapshot_at"); !ok || v != theVersion {
		return noVersion(L, "registry.snapshot_at", v)
	}
	return s.registrySnapshot(L)
}

func (s *state) registryCurrentVersion(L *lua.LState) int {
	return s.pushRegUserData(L, regVersionType, regVersion{})
}

func (s *state) registryVersions(L *lua.LState) int {
	t := L.CreateTable(1, 0)
	t.RawSetInt(1, s.newUserData(L, regVersionType, regVersion{}))
	L.Push(t)
	return 1
}

func (s *state) registryHistory(L *lua.LState) int {
	return s.pushRegUserData(L, regHistoryType, regHistory{})
}

func registryApplyVersion(L *lua.LState) int {
	v, ok := versionArg(L, 1, "registry.apply_version")
	if !ok || v != theVersion {
		return noVersion(L, "registry.apply_version", v)
	}
	L.Push(lua.LTrue) // the version applied already
	return 1
}

// self checks that a method was called with ':' on its type.
func self[T any](L *lua.LState, fn string) T {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if v, ok := ud.Value.(T); ok {
			return v
		}
	}
	L.RaiseError("%s: call it with ':' on its object, as in %s(...)", fn, fn)
	var zero T
	return zero
}

var regSnapshotMethods = map[string]lua.LGFunction{
	"entries": bind(func(s *state, L *lua.LState) int {
		self[regSnapshot](L, "snapshot:entries")
		return pushEntries(L, s.rt.opts.Registry, func(RegistryEntry) bool { return true })
	}),
	"get": bind(func(s *state, L *lua.LState) int {
		self[regSnapshot](L, "snapshot:get")
		L.Remove(1)
		return s.registryGet(L)
	}),
	"find": bind(func(s *state, L *lua.LState) int {
		self[regSnapshot](L, "snapshot:find")
		return findEntries(L, 2, "snapshot:find", s.rt.opts.Registry)
	}),
	"namespace": bind(func(s *state, L *lua.LState) int {
		self[regSnapshot](L, "snapshot:namespace")
		ns := checkString(L, 2, "snapshot:namespace", "ns")
		return pushEntries(L, s.rt.opts.Registry, func(e RegistryEntry) bool {
			n, _, _ := strings.Cut(e.ID, ":")
			return n == ns
		})
	}),
	"version": bind(func(s *state, L *lua.LState) int {
		self[regSnapshot](L, "snapshot:version")
		return s.registryCurrentVersion(L)
	}),
	"changes": bind(func(s *state, L *lua.LState) int {
		self[regSnapshot](L, "snapshot:changes")
		return s.pushRegUserData(L, regChangesType, &regChanges{})
	}),
}

var regVersionMethods = map[string]lua.LGFunction{
	"id": func(L *lua.LState) int {
		self[regVersion](L, "version:id")
		L.Push(lua.LNumber(theVersion))
		return 1
	},
	"string": func(L *lua.LState) int {
		self[regVersion](L, "version:string")
		L.Push(lua.LString(strconv.Itoa(theVersion)))
		return 1
	},
	"previous": func(L *lua.LState) int {
		self[regVersion](L, "version:previous")
		L.Push(lua.LNil)
		return 1
	},
	"next": func(L *lua.LState) int {
		self[regVersion](L, "version:next")
		L.Push(lua.LNil)
		return 1
	},
}

var regHistoryMethods = map[string]lua.LGFunction{
	"versions": bind(func(s *state, L *lua.LState) int {
		self[regHistory](L, "history:versions")
		return s.registryVersions(L)
	}),
	"get_version": bind(func(s *state, L *lua.LState) int {
		self[regHistory](L, "history:get_version")
		if v, ok := versionArg(L, 2, "history:get_version"); !ok || v != theVersion {
			return noVersion(L, "history:get_version", v)
		}
		return s.registryCurrentVersion(L)
	}),
	"snapshot_at": bind(func(s *state, L *lua.LState) int {
		self[regHistory](L, "history:snapshot_at")
		if v, ok := versionArg(L, 2, "history:snapshot_at"); !ok || v != theVersion {
			return noVersion(L, "history:snapshot_at", v)
		}
		return s.registrySnapshot(L)
	}),
}

// addOp records an operation of a changeset: an entry (a table with an
// id) to create or update, or an id (a string or {ns, name}) to delete.
func addOp(L *lua.LState, kind string) int {
	fn := "changes:" + strings.TrimPrefix(kind, "entry.")
	c := self[*regChanges](L, fn)
	if len(c.ops) >= maxChangeOps {
		L.RaiseError("%s: a changeset holds at most %d operations", fn, maxChangeOps)
	}
	var entry value.Value
	if kind == "entry.delete" {
		id := ""
		switch a := L.Get(2).(type) {
		case lua.LString:
			id = string(a)
		case *lua.LTable:
			ns, name := a.RawGetString("ns"), a.RawGetString("name")
			if ns.Type() == lua.LTString && name.Type() == lua.LTString {
				id = ns.String() + ":" + name.String()
			}
		}
		if !strings.Contains(id, ":") {
			argError(L, 2, fn, "id", "must be an id, namespace:name, or {ns = ..., name = ...}")
		}
		entry = value.Map(value.Field{Key: "id", Value: value.String(id)})
	} else {
		checkTable(L, 2, fn, "entry")
		entry = checkValue(L, 2, fn, "entry")
		if id, ok := entry.Get("id"); !ok || id.Kind() != value.KindString {
			argError(L, 2, fn, "entry", "has no id (namespace:name)")
		}
	}
	L.Charge(64 + entry.Size())
	c.ops = append(c.ops, regOp{kind: kind, entry: entry})
	L.Push(L.Get(1)) // the changeset, for chained calls
	return 1
}

func pushOps(L *lua.LState, ops []regOp) int {
	out := L.CreateTable(len(ops), 0)
	L.Push(out)
	for i, op := range ops {
		t := L.CreateTable(0, 2)
		t.RawSetString("kind", lua.LString(op.kind))
		t.RawSetString("entry", toLua(L, op.entry))
		out.RawSetInt(i+1, t)
	}
	return 1
}

var regChangesMethods = map[string]lua.LGFunction{
	"create": func(L *lua.LState) int { return addOp(L, "entry.create") },
	"update": func(L *lua.LState) int { return addOp(L, "entry.update") },
	"delete": func(L *lua.LState) int { return addOp(L, "entry.delete") },
	"ops": func(L *lua.LState) int {
		return pushOps(L, self[*regChanges](L, "changes:ops").ops)
	},
	"apply": func(L *lua.LState) int {
		self[*regChanges](L, "changes:apply")
		return pushNilErr(L, "changes:apply: "+errNoChanges)
	},
}

// registryBuildDelta is registry.build_delta(from, to): the operations
// that make the list of entries from into to: entry.create for an id only
// in to, entry.update for one in both that differs (kind, meta or data),
// entry.delete for one only in from; in the order of to, then of from.
func registryBuildDelta(L *lua.LState) int {
	const fn = "registry.build_delta"
	read := func(n int, arg string) ([]string, map[string]value.Value) {
		checkTable(L, n, fn, arg)
		list := checkValue(L, n, fn, arg)
		if list.Kind() != value.KindList && list.Len() > 0 {
			argError(L, n, fn, arg, "must be a list of entries")
		}
		var ids []string
		byID := map[string]value.Value{}
		for i := 1; i <= list.Len(); i++ {
			e := list.Index(i - 1)
			id, ok := e.Get("id")
			text, isText := id.Text()
			if !ok || !isText {
				argError(L, n, fn, arg, "entry "+strconv.Itoa(i)+" has no id")
			}
			if _, dup := byID[text]; dup {
				argError(L, n, fn, arg, "entry "+strconv.Itoa(i)+": "+cutArg(text)+" is listed twice")
			}
			ids = append(ids, text)
			byID[text] = e
		}
		return ids, byID
	}
	fromIDs, from := read(1, "from")
	toIDs, to := read(2, "to")
	var ops []regOp
	for _, id := range toIDs {
		old, had := from[id]
		switch {
		case !had:
			ops = append(ops, regOp{"entry.create", to[id]})
		case !value.Equal(old, to[id]):
			ops = append(ops, regOp{"entry.update", to[id]})
		}
	}
	for _, id := range fromIDs {
		if _, kept := to[id]; !kept {
			ops = append(ops, regOp{"entry.delete", from[id]})
		}
	}
	return pushOps(L, ops)
}
