package cluster

import "testing"

// FuzzEntryName: a key read from the bucket (any NATS client with access
// can write one) is taken for a name only when it is one a node writes,
// and a name survives the trip through its key.
func FuzzEntryName(f *testing.F) {
	for _, s := range []string{"n.cm9vbTpkZXY", "n.", "n", "", "x.abc", "n.!!", "n.cm9vbTpkZXY=", "{service}app:x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if name, ok := entryName(s); ok && nameKey(name) != s {
			t.Fatalf("key %q reads as name %q, whose key is %q", s, name, nameKey(name))
		}
		if name, ok := entryName(nameKey(s)); !ok || name != s {
			t.Fatalf("name %q: its key %q reads as %q %v", s, nameKey(s), name, ok)
		}
	})
}
