package luart

import (
	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/value"
)

// The json module: json.encode(v) -> string, err and json.decode(s) -> v, err.
// Tables follow the value conversion rules (convert.go): a table with keys
// 1..n encodes as an array, any other as an object, an empty one as {}.
// JSON null decodes to nil.

var jsonFuncs = map[string]lua.LGFunction{
	"encode": jsonEncode,
	"decode": jsonDecode,
}

func jsonEncode(L *lua.LState) int {
	v, err := toValue(L.Get(1))
	var b []byte
	if err == nil {
		b, err = value.AppendJSON(nil, v)
	}
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString("json.encode: " + err.Error()))
		return 2
	}
	L.CheckAlloc(len(b)) // the memory budget (limits.go)
	L.Push(lua.LString(b))
	return 1
}

func jsonDecode(L *lua.LState) int {
	text := checkString(L, 1, "json.decode", "text")
	v, err := decodeJSON(L, text) // charges the memory budget as it builds (jsondec.go)
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString("json.decode: " + err.Error()))
		return 2
	}
	L.Push(v)
	return 1
}
