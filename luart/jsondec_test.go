package luart

import (
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/value"
)

// decodeBoth decodes text with the Lua decoder and with value.ParseJSON,
// and returns both results as values (nil when the text is refused).
func decodeBoth(t *testing.T, L *lua.LState, text string) (got, want *value.Value, gotErr, wantErr error) {
	t.Helper()
	top := L.GetTop()
	defer L.SetTop(top)
	lv, err := decodeJSON(L, text)
	if err == nil {
		v, cerr := toValue(lv)
		if cerr != nil {
			t.Fatalf("%q decodes to a Lua value that does not convert back: %v", text, cerr)
		}
		got = &v
	}
	gotErr = err
	pv, err := value.ParseJSON([]byte(text))
	if err == nil {
		// Through Lua, as the values came to scripts before.
		v, cerr := toValue(toLua(L, pv))
		if cerr != nil {
			t.Fatalf("%q: %v", text, cerr)
		}
		want = &v
	}
	return got, want, gotErr, err
}

// The Lua decoder accepts exactly what encoding/json (behind
// value.ParseJSON) accepts, and makes the same values, nesting included.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"a":[1,2.5,"x",null,true]}`, `[]`, `{}`, `"\u00ff\ud83d\ude00\ud800x"`, `1e5`, `-0.5e-3`, `{"a":`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		strings.Repeat("[", 65) + strings.Repeat("]", 65), strings.Repeat(`{"k":`, 70) + "1" + strings.Repeat("}", 70),
		"\"a\xffb\"", `"\x"`, `01`, `1.`, `[1,]`, `{"a" 1}`, ` true `, `nul`, `1e400`, "\"\t\"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		L := lua.NewState()
		defer L.Close()
		got, want, gotErr, wantErr := decodeBoth(t, L, text)
		switch {
		case (gotErr == nil) != (wantErr == nil):
			t.Fatalf("%q: the Lua decoder says %v, value.ParseJSON says %v", text, gotErr, wantErr)
		case got != nil && !value.Equal(*got, *want):
			t.Fatalf("%q: the Lua decoder makes %v, value.ParseJSON %v", text, *got, *want)
		}
	})
}

// Nesting is bounded by value.MaxDepth levels: deeper text is an error
// naming the depth, found without recursing further (the decoder stops
// at the level past the bound).
func TestDecodeJSONDepth(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	for _, open := range []string{"[", `{"k":`} {
		_, err := decodeJSON(L, strings.Repeat(open, 1<<20))
		if err == nil || !strings.Contains(err.Error(), "nested deeper than 64 levels") {
			t.Errorf("a million %s: %v, want the depth error", open, err)
		}
		ok := strings.Repeat(open, value.MaxDepth) + "1" + strings.Repeat(map[string]string{"[": "]", `{"k":`: "}"}[open], value.MaxDepth)
		if _, err := decodeJSON(L, ok); err != nil {
			t.Errorf("%d levels: %v", value.MaxDepth, err)
		}
	}
}
