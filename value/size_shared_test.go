package value_test

import (
	"testing"

	"github.com/wsrelay/wsrelay/value"
)

// TestSizeOfSharedValuesDoesNotOverflow: a value may hold one value many
// times (a list of a list twice, nested), and its Size counts each time.
// Past 2^63 bytes the count must stay a large positive number: a negative
// Size would let a mailbox take the message and lower its byte count.
func TestSizeOfSharedValuesDoesNotOverflow(t *testing.T) {
	t.Parallel()
	v := value.String("x")
	prev := v.Size()
	for i := range 100 {
		v = value.List(v, v)
		if s := v.Size(); s < prev {
			t.Fatalf("level %d: size %d is less than its item's %d (overflow)", i+1, s, prev)
		}
		prev = v.Size()
	}
	m := value.Map(value.Field{Key: "a", Value: v}, value.Field{Key: "b", Value: v})
	if m.Size() < v.Size() {
		t.Fatalf("map of a huge value: size %d, less than the value's %d", m.Size(), v.Size())
	}
}
