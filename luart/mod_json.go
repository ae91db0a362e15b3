package luart

import (
	"errors"
	"math"

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
	b, err := encodeJSON(L, L.Get(1), "json.encode")
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString("json.encode: " + err.Error()))
		return 2
	}
	L.Push(lua.LString(b))
	return 1
}

// encodeJSON encodes a Lua value of L's code as JSON, within L's memory
// budget: the value is converted within it (toValueIn), and the text, which
// can be far longer than the value (a string held many times is encoded
// each time; escaping makes up to six bytes of one), stops at the budget
// and is then charged to it (a memory error raised either way). A value
// that cannot be encoded is an error returned.
func encodeJSON(L *lua.LState, lv lua.LValue, fn string) ([]byte, error) {
	v, err := toValueIn(L, lv)
	if err != nil {
		return nil, err
	}
	return encodeValue(L, v, fn)
}

// encodeValue is encodeJSON of a value converted already.
func encodeValue(L *lua.LState, v value.Value, fn string) ([]byte, error) {
	max := math.MaxInt
	if lm := L.Limits(); lm != nil && lm.MaxBytes > 0 {
		max = int(lm.MaxBytes)
	}
	b, err := value.AppendJSONLimit(nil, v, max)
	if errors.Is(err, value.ErrTooLarge) {
		L.RaiseError("%s: %s: the JSON text would be larger than the limit of %d bytes", fn, lua.ErrMemoryLimit, max)
	}
	if err != nil {
		return nil, err
	}
	L.CheckAlloc(len(b)) // the memory budget (limits.go)
	return b, nil
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
