package value_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/value"
)

func TestScalars(t *testing.T) {
	t.Parallel()
	if !value.Nil().IsNil() || !(value.Value{}).IsNil() {
		t.Fatal("nil value is not nil")
	}
	if b, ok := value.Bool(true).Bool(); !b || !ok {
		t.Fatal("Bool(true)")
	}
	if i, ok := value.Int(-7).Int(); i != -7 || !ok {
		t.Fatal("Int(-7)")
	}
	if _, ok := value.Int(1).Float(); ok {
		t.Fatal("an integer must not read as a float")
	}
	if f, ok := value.Int(3).Number(); f != 3 || !ok {
		t.Fatal("Number of an integer")
	}
	if s, ok := value.String("hé").Text(); s != "hé" || !ok {
		t.Fatal("String")
	}
	if _, ok := value.BytesString("x").Text(); ok {
		t.Fatal("a byte string must not read as text")
	}
	if s, ok := value.BytesString("\xff").Raw(); s != "\xff" || !ok {
		t.Fatal("Raw of bytes")
	}
}

// A receiver can never observe a later mutation by the sender.
func TestConstructorsCopy(t *testing.T) {
	t.Parallel()
	b := []byte("abc")
	vb := value.Bytes(b)
	b[0] = 'X'
	if got, _ := vb.Raw(); got != "abc" {
		t.Fatalf("Bytes shares memory with its argument: %q", got)
	}
	out, _ := vb.Bytes()
	out[1] = 'Y'
	if got, _ := vb.Raw(); got != "abc" {
		t.Fatalf("Bytes() hands out the value's memory: %q", got)
	}

	items := []value.Value{value.Int(1), value.Int(2)}
	l := value.List(items...)
	items[0] = value.Int(99)
	if i, _ := l.Index(0).Int(); i != 1 {
		t.Fatalf("List shares its slice: %d", i)
	}

	gm := map[string]any{"k": []any{1, "x"}, "n": map[string]any{"z": true}}
	v := value.MustOf(gm)
	gm["k"].([]any)[0] = 42
	gm["n"].(map[string]any)["z"] = false
	gm["new"] = 1
	want := value.MustOf(map[string]any{"k": []any{1, "x"}, "n": map[string]any{"z": true}})
	if !value.Equal(v, want) {
		t.Fatalf("Of shares memory with its argument: %v", v)
	}
	back := v.Any().(map[string]any)
	back["k"].([]any)[0] = "mutated"
	if !value.Equal(v, want) {
		t.Fatalf("Any() hands out the value's memory: %v", v)
	}
}

func TestMap(t *testing.T) {
	t.Parallel()
	m := value.Map(value.Field{Key: "b", Value: value.Int(1)}, value.Field{Key: "a", Value: value.Int(2)}, value.Field{Key: "b", Value: value.Int(3)})
	if m.Len() != 2 {
		t.Fatalf("len %d, want 2 (duplicate key keeps the last)", m.Len())
	}
	if v, ok := m.Get("b"); !ok || !value.Equal(v, value.Int(3)) {
		t.Fatalf("Get(b) = %v, %v", v, ok)
	}
	if _, ok := m.Get("zz"); ok {
		t.Fatal("Get of a missing key")
	}
	var keys []string
	for k := range m.Fields() {
		keys = append(keys, k)
	}
	if strings.Join(keys, ",") != "a,b" {
		t.Fatalf("fields not in key order: %v", keys)
	}
	if _, ok := value.Int(1).Get("a"); ok {
		t.Fatal("Get on a non-map")
	}
	// Fields already in key order take the path that does not sort; the
	// map still owns a copy, and a repeated key still keeps the last.
	in := []value.Field{{Key: "a", Value: value.Int(1)}, {Key: "b", Value: value.Int(2)}}
	sorted := value.Map(in...)
	in[0].Value = value.Int(9)
	if v, _ := sorted.Get("a"); !value.Equal(v, value.Int(1)) {
		t.Fatalf("the map shares the caller's slice: a = %v", v)
	}
	twice := value.Map(value.Field{Key: "a", Value: value.Int(1)}, value.Field{Key: "a", Value: value.Int(2)})
	if v, _ := twice.Get("a"); twice.Len() != 1 || !value.Equal(v, value.Int(2)) {
		t.Fatalf("a key given twice in order: %v", twice)
	}
	if !value.Value.IsNil(value.Int(1).Index(0)) || !m.Index(0).IsNil() {
		t.Fatal("Index on a non-list must be nil")
	}
}

func TestOfErrors(t *testing.T) {
	t.Parallel()
	var cyc []any
	cyc = append(cyc, nil)
	cyc[0] = cyc
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"channel", map[string]any{"a": []any{1, make(chan int)}}, "at .a[1]: unsupported type chan int"},
		{"int keys", map[int]string{1: "x"}, "map key type int is not string"},
		{"big uint", uint64(math.MaxUint64), "does not fit"},
		{"cycle", cyc, "nested deeper than 64"},
		{"func", func() {}, "unsupported type func()"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := value.Of(tt.in)
			var ce *value.ConvertError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Of = %v, want a ConvertError containing %q", err, tt.want)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	v := value.MustOf(map[string]any{
		"s": "a\"<b>", "i": 3, "f": 2.0, "g": 0.5, "n": nil, "t": true,
		"l": []any{1, "x"}, "raw": value.BytesString("ok"), "bin": value.BytesString("\xff\x00"),
	})
	b, err := v.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"bin":"/wA=","f":2.0,"g":0.5,"i":3,"l":[1,"x"],"n":null,"raw":"ok","s":"a\"\u003cb\u003e","t":true}`
	if string(b) != want {
		t.Fatalf("JSON\n got %s\nwant %s", b, want)
	}
	back, err := value.ParseJSON([]byte(`{"f":2.0,"i":3,"big":1e400,"l":[1,"x",{"z":null}]}`))
	if err == nil {
		t.Fatalf("1e400 must be out of range, got %v", back)
	}
	back, err = value.ParseJSON([]byte(`{"f":2.0,"i":3,"l":[1,"x",{"z":null}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if i, ok := mustGet(t, back, "i").Int(); !ok || i != 3 {
		t.Fatal("integer did not stay an integer")
	}
	if f, ok := mustGet(t, back, "f").Float(); !ok || f != 2 {
		t.Fatal("2.0 did not stay a float")
	}
	if _, err := value.AppendJSON(nil, value.Float(math.NaN())); err == nil {
		t.Fatal("NaN encoded")
	}
	for _, bad := range []string{``, `{`, `[1,]`, `{"a":1} x`, strings.Repeat("[", 65) + strings.Repeat("]", 65)} {
		if _, err := value.ParseJSON([]byte(bad)); err == nil {
			t.Errorf("ParseJSON(%q) succeeded", bad)
		}
	}
}

func mustGet(t *testing.T, v value.Value, k string) value.Value {
	t.Helper()
	f, ok := v.Get(k)
	if !ok {
		t.Fatalf("no field %q in %v", k, v)
	}
	return f
}

func TestEqual(t *testing.T) {
	t.Parallel()
	a := value.MustOf([]any{1, map[string]any{"x": "y"}})
	b := value.MustOf([]any{1, map[string]any{"x": "y"}})
	c := value.MustOf([]any{1, map[string]any{"x": "z"}})
	if !value.Equal(a, b) || value.Equal(a, c) || value.Equal(value.Int(1), value.Float(1)) {
		t.Fatal("Equal is wrong")
	}
	if value.Equal(value.String("a"), value.BytesString("a")) {
		t.Fatal("a string and a byte string are different kinds")
	}
}

func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5,"x",null,true]}`, `[]`, `"\u00ff"`, `1e5`, `{"a":`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := value.ParseJSON(data)
		if err != nil {
			return
		}
		b, err := value.AppendJSON(nil, v)
		if err != nil {
			t.Fatalf("parsed %q but cannot encode %v: %v", data, v, err)
		}
		w, err := value.ParseJSON(b)
		if err != nil || !value.Equal(v, w) {
			t.Fatalf("round trip of %q: %v -> %s -> %v (%v)", data, v, b, w, err)
		}
	})
}

// TestSize: a value's size grows with its text and its items, whatever
// way the value was made (built, decoded from the wire or from JSON,
// converted from Go), and is the same for equal values.
func TestSize(t *testing.T) {
	small, big := value.String("x"), value.String(strings.Repeat("x", 1<<20))
	if d := big.Size() - small.Size(); d != 1<<20-1 {
		t.Fatalf("a 1 MiB string is %d bytes more than a 1-byte one, want %d", d, 1<<20-1)
	}
	built := value.Map(
		value.Field{Key: "data", Value: value.BytesString(strings.Repeat("b", 5000))},
		value.Field{Key: "list", Value: value.List(value.Int(1), value.String("two"), value.Nil())},
		value.Field{Key: "n", Value: value.Float(1.5)},
	)
	if built.Size() < 5000+len("data")+len("list")+len("two") {
		t.Fatalf("size %d is less than the text the value holds", built.Size())
	}
	nested := value.List(built, built)
	if nested.Size() <= 2*built.Size() {
		t.Fatalf("a list of two values is %d bytes, not more than the two (%d)", nested.Size(), 2*built.Size())
	}
	decoded, err := value.DecodeBinary(value.AppendBinary(nil, nested))
	if err != nil {
		t.Fatal(err)
	}
	js, err := value.ParseJSON([]byte(`{"data": "` + strings.Repeat("b", 5000) + `", "list": [1, "two", null], "n": 1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	converted, err := value.Of(map[string]any{"data": []byte(strings.Repeat("b", 5000)), "list": []any{1, "two", nil}, "n": 1.5})
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]int{"decoded": decoded.Size(), "from JSON": value.List(js, js).Size(), "converted": value.List(converted, converted).Size()} {
		if got != nested.Size() {
			t.Errorf("%s: size %d, built: %d", name, got, nested.Size())
		}
	}
}
