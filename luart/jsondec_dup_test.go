package luart

import (
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// A key given twice keeps its last value, null included (the key is then
// absent), as value.ParseJSON does.
func TestDecodeJSONDuplicateKeys(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	for text, want := range map[string]string{
		`{"a":1,"a":null}`:    `{}`,
		`{"a":{},"a":1}`:      `{"a":1}`,
		`{"a":1,"a":{"b":2}}`: `{"a":{"b":2}}`,
		`[null,1,null]`:       `[1]`,
	} {
		lv, err := decodeJSON(L, text)
		if err != nil {
			t.Fatal(err)
		}
		v, err := toValue(lv)
		if err != nil || v.String() != want {
			t.Errorf("%s decodes to %v (%v), want %s", text, v, err, want)
		}
	}
}
