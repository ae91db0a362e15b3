package luart

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// libs are the library tables and userdata metatables, built once per
// Runtime and shared by all its states. Sharing is safe because nothing
// writes to them after they are built: Lua code reaches them only through
// read-only proxies and protected metatables, and their Go functions act
// on the calling state, never on the function value or its table.
type libs struct {
	globalsMeta *lua.LTable            // metatable of each state's globals: __index = the shared globals
	stringMeta  *lua.LTable            // metatable of strings, for s:upper() and friends
	numberMeta  *lua.LTable            // metatable of numbers, for time.now():unix() and friends
	modules     map[string]lua.LValue  // what require returns, by name
	metas       map[string]*lua.LTable // userdata metatables, by type name

	// shared holds every table and function above and what they reach:
	// never written after newLibs, never counted in a state's memory.
	shared map[lua.LValue]struct{}
}

// Base functions left out of the sandbox: they reach the file system, the
// collector, or another environment than the one the code runs in.
var bannedBase = []string{
	"dofile", "loadfile", "load", "loadstring", "getfenv", "setfenv",
	"collectgarbage", "module", "newproxy", "_printregs", "_GOPHER_LUA_VERSION",
}

func newLibs() *libs {
	// tpl only makes the shared objects; it never runs code.
	tpl := lua.NewState(lua.Options{SkipOpenLibs: true})
	b := &libBuilder{L: tpl}

	globals := b.open(lua.BaseLibName, lua.OpenBase)
	for _, name := range bannedBase {
		globals.RawSetString(name, lua.LNil)
	}
	globals.RawSetString("_G", lua.LNil) // each state has its own
	globals.RawSetString("print", tpl.NewFunction(bind((*state).print)))
	globals.RawSetString("require", tpl.NewFunction(bind((*state).require)))

	str := b.open(lua.StringLibName, lua.OpenString)
	str.RawSetString("__index", lua.LNil)
	globals.RawSetString("string", b.readOnly("string", str))
	tab := b.open(lua.TabLibName, lua.OpenTable)
	globals.RawSetString("table", b.readOnly("table", tab))
	globals.RawSetString("math", b.readOnly("math", b.open(lua.MathLibName, lua.OpenMath)))
	co := b.open(lua.CoroutineLibName, lua.OpenCoroutine)
	// A Lua process's body runs in a coroutine the scheduler resumes
	// (task.go); to its code that coroutine is the main thread, as in a
	// state of its own: yield fails there, and running gives nil.
	yield := co.RawGetString("yield").(*lua.LFunction).GFunction
	co.RawSetString("yield", tpl.NewFunction(func(L *lua.LState) int {
		if isProcessBody(L) {
			L.RaiseError("can not yield from outside of a coroutine")
		}
		return yield(L)
	}))
	running := co.RawGetString("running").(*lua.LFunction).GFunction
	co.RawSetString("running", tpl.NewFunction(func(L *lua.LState) int {
		if isProcessBody(L) {
			L.Push(lua.LNil)
			return 1
		}
		return running(L)
	}))
	co.RawSetString("spawn", tpl.NewFunction(bind((*state).coroutineSpawn)))
	globals.RawSetString("coroutine", b.readOnly("coroutine", co))
	globals.RawSetString("os", b.readOnly("os", b.osLib()))
	globals.RawSetString("process", b.readOnly("process", b.processLib()))
	globals.RawSetString("channel", b.readOnly("channel", b.channelLib()))

	timeMod := b.timeLib()
	l := &libs{
		globalsMeta: b.meta(globals),
		stringMeta:  b.meta(str),
		numberMeta:  b.meta(b.funcs(numberMethods)),
		modules: map[string]lua.LValue{
			"json":     b.readOnly("json", b.funcs(jsonFuncs)),
			"time":     b.readOnly("time", timeMod),
			"http":     b.readOnly("http", b.httpLib()),
			"logger":   b.readOnly("logger", b.funcs(loggerFuncs)),
			"env":      b.readOnly("env", b.funcs(envFuncs)),
			"registry": b.readOnly("registry", b.funcs(registryFuncs)),
			"uuid":     b.readOnly("uuid", b.funcs(uuidFuncs)),
			"ctx":      b.readOnly("ctx", b.funcs(ctxFuncs)),
			"pg":       b.readOnly("pg", b.pgLib()),
			// The original runtime lists its globals as modules too.
			"process": globals.RawGetString("process"),
			"channel": globals.RawGetString("channel"),
		},
		metas:  map[string]*lua.LTable{},
		shared: map[lua.LValue]struct{}{},
	}
	for name, methods := range userdataMethods {
		l.metas[name] = b.typeMeta(name, methods)
	}
	l.timeMetas(b, timeMod)
	// The raw writers refuse the shared tables: table.insert(string, x)
	// would otherwise add a field that every state sees.
	globals.RawSetString("rawset", tpl.NewFunction(l.rawset))
	for _, name := range []string{"insert", "remove", "sort"} {
		tab.RawSetString(name, tpl.NewFunction(l.refuseShared("table."+name, tab.RawGetString(name).(*lua.LFunction).GFunction)))
	}
	roots := []lua.LValue{l.globalsMeta, l.stringMeta, tpl.G.Global, tpl.G.Registry}
	for _, m := range l.modules {
		roots = append(roots, m)
	}
	for _, m := range l.metas {
		roots = append(roots, m)
	}
	l.collectShared(roots...)
	return l
}

type libBuilder struct{ L *lua.LState }

// open runs one of gopher-lua's openers and takes the table it made.
func (b *libBuilder) open(name string, opener lua.LGFunction) *lua.LTable {
	b.L.Push(b.L.NewFunction(opener))
	b.L.Push(lua.LString(name))
	b.L.Call(1, 1)
	t := b.L.Get(-1).(*lua.LTable)
	b.L.Pop(1)
	if name == lua.BaseLibName {
		return b.L.G.Global
	}
	return t
}

func (b *libBuilder) funcs(fns map[string]lua.LGFunction) *lua.LTable {
	t := b.L.CreateTable(0, len(fns))
	b.L.SetFuncs(t, fns)
	return t
}

// osLib keeps only the clock and calendar functions of os.
func (b *libBuilder) osLib() *lua.LTable {
	full := b.open(lua.OsLibName, lua.OpenOs)
	t := b.L.CreateTable(0, 4)
	for _, name := range []string{"clock", "date", "difftime", "time"} {
		t.RawSetString(name, full.RawGetString(name))
	}
	return t
}

// meta returns a protected metatable whose __index is t.
func (b *libBuilder) meta(t *lua.LTable) *lua.LTable {
	mt := b.L.CreateTable(0, 2)
	mt.RawSetString("__index", t)
	mt.RawSetString("__metatable", lua.LString("locked"))
	return mt
}

// readOnly returns a proxy of lib that refuses writes.
func (b *libBuilder) readOnly(name string, lib *lua.LTable) *lua.LTable {
	proxy := b.L.CreateTable(0, 0)
	mt := b.meta(lib)
	mt.RawSetString("__newindex", b.L.NewFunction(func(L *lua.LState) int {
		L.RaiseError("the library table %s is read-only", name)
		return 0
	}))
	proxy.Metatable = mt
	return proxy
}

// typeMeta returns the metatable of a userdata type.
func (b *libBuilder) typeMeta(name string, methods map[string]lua.LGFunction) *lua.LTable {
	mt := b.meta(b.funcs(methods))
	short := name[strings.LastIndexByte(name, '.')+1:]
	mt.RawSetString("__tostring", b.L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(short))
		return 1
	}))
	return mt
}

// userdataMethods are the methods of each userdata type, by type name.
var userdataMethods = map[string]map[string]lua.LGFunction{
	messageType:  messageMethods,
	payloadType:  payloadMethods,
	channelType:  channelMethods,
	caseType:     {},
	requestType:  requestMethods,
	responseType: responseMethods,
	timerType:    timerMethods,
	loggerType:   loggerFuncs,
	timeType:     timeMethods,
	durationType: durationMethods,
	locationType: locationMethods,
	spawnerType:  spawnerMethods,
	// The registry module's snapshots (mod_entries_snap.go).
	regSnapshotType: regSnapshotMethods,
	regVersionType:  regVersionMethods,
	regHistoryType:  regHistoryMethods,
	regChangesType:  regChangesMethods,
	pgType:          pgMethods,
	pgSubType:       pgSubMethods,
}

// newUserData returns a userdata of a shared type holding v.
func (s *state) newUserData(L *lua.LState, typ string, v any) *lua.LUserData {
	ud := L.NewUserData()
	ud.Value = v
	ud.Metatable = s.rt.libs.metas[typ]
	return ud
}

// rawset is the base rawset, refusing the shared library tables and
// charging the growth to the memory budget.
func (l *libs) rawset(L *lua.LState) int {
	t := L.CheckTable(1)
	if l.isShared(t) {
		L.RaiseError("rawset: library tables are read-only")
	}
	k := L.Get(2)
	if k == lua.LNil {
		L.ArgError(2, "table index is nil")
	}
	if n, ok := k.(lua.LNumber); ok && n != n {
		L.ArgError(2, "table index is NaN")
	}
	if t.RawGet(k) == lua.LNil {
		L.ChargeSet(t, k)
	}
	t.RawSet(k, L.Get(3))
	L.SetTop(1)
	return 1
}

// refuseShared wraps a builtin that writes its first argument, a table,
// so that it refuses the shared library tables.
func (l *libs) refuseShared(name string, fn lua.LGFunction) lua.LGFunction {
	return func(L *lua.LState) int {
		if t, ok := L.Get(1).(*lua.LTable); ok && l.isShared(t) {
			L.RaiseError("%s: library tables are read-only", name)
		}
		return fn(L)
	}
}
