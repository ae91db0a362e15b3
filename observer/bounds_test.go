package observer

import (
	"encoding/json"
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
