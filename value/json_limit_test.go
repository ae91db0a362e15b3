package value_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/value"
)

// A string escapes exactly as encoding/json escapes it, whatever its bytes.
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "plain", "\"\\\n\r\t\b\f\x00\x1f", "<a>&", "\u2028\u2029", "\xff\xfe", "é😀", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := value.AppendJSONString(nil, s); string(got) != string(want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
		// The bound is exact: the string fits in its own length, not one less.
		v := value.String(s)
		if _, err := value.AppendJSONLimit(nil, v, len(want)); err != nil {
			t.Fatalf("%q does not fit in its %d bytes: %v", s, len(want), err)
		}
		for _, max := range []int{len(want) - 1, len(want) / 2} {
			b, err := value.AppendJSONLimit(nil, v, max)
			if !errors.Is(err, value.ErrTooLarge) {
				t.Fatalf("%q fits in %d bytes, less than its length: %v", s, max, err)
			}
			// What fits is written: a prefix of the encoding, within the bound.
			if len(b) > max || !strings.HasPrefix(string(want), string(b)) {
				t.Fatalf("%q cut at %d bytes: %q, not a prefix of %s within the bound", s, max, b, want)
			}
		}
	})
}

// A list holding one string many times encodes the string each time, and
// escaping makes six bytes of each control byte: the encoder stops at its
// bound instead of building it all, and never holds more than the bound.
func TestAppendJSONLimitStopsAtTheBound(t *testing.T) {
	s := value.String(strings.Repeat("\x01", 1<<20)) // 6 MiB once escaped
	items := make([]value.Value, 1000)
	for i := range items {
		items[i] = s
	}
	const max = 8 << 20
	b, err := value.AppendJSONLimit(make([]byte, 0, 64), value.List(items...), max)
	if !errors.Is(err, value.ErrTooLarge) {
		t.Fatalf("a 6 GB encoding with a bound of 8 MiB: %v, want ErrTooLarge", err)
	}
	if cap(b) > 2*max || len(b) > max {
		t.Fatalf("the encoder grew to %d bytes (cap %d) for a bound of %d", len(b), cap(b), max)
	}
	ok, err := value.AppendJSONLimit(nil, value.List(items[:1]...), max)
	if err != nil || len(ok) != 6<<20+4 {
		t.Fatalf("one such string: %d bytes, %v", len(ok), err)
	}
}
