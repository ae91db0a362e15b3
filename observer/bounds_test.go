package observer

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzJSONLen: jsonLen is never below what encoding/json writes.
func FuzzJSONLen(f *testing.F) {
	for _, s := range []string{"", "plain", "<script>&", "\"\\", "\x00\x1f", "é€😀", "\xff\xfe", "\u2028\u2029"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, _ := json.Marshal(s)
		if got, want := jsonLen(s), len(b)-2; got < want {
			t.Fatalf("jsonLen(%q) = %d, encoding/json writes %d", s, got, want)
		}
	})
}

// FuzzClipJSON: clipJSON keeps s when it fits, and otherwise a prefix
// of it that fits, with an ellipsis.
func FuzzClipJSON(f *testing.F) {
	for _, s := range []string{"", "plain", "<<<<<<<<", "é€😀é€😀", "\xff\xfe<>"} {
		f.Add(s, 5)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		if n < 3 || n > 1000 {
			return
		}
		c := clipJSON(s, n)
		b, _ := json.Marshal(c)
		if len(b)-2 > n {
			t.Fatalf("clipJSON(%q, %d) = %q, %d bytes as JSON", s, n, c, len(b)-2)
		}
		if c != s && !strings.HasPrefix(s, strings.TrimSuffix(c, "…")) {
			t.Fatalf("clipJSON(%q, %d) = %q, not a prefix", s, n, c)
		}
		if jsonLen(s) <= n && c != s {
			t.Fatalf("clipJSON(%q, %d) = %q: it fitted", s, n, c)
		}
	})
}
