package value_test

import (
	"strconv"
	"testing"

	"github.com/wsrelay/wsrelay/value"
)

// Small maps and lists share one allocation with their array; every size
// around those arrays' bounds must still hold exactly what it was given,
// sorted and de-duplicated, and own its copy.
func TestSmallAndLargeCompounds(t *testing.T) {
	t.Parallel()
	for n := range 11 {
		// Keys given in reverse, each twice (the second wins).
		var in []value.Field
		for i := n - 1; i >= 0; i-- {
			in = append(in, value.Field{Key: "k" + strconv.Itoa(i), Value: value.Int(-1)})
			in = append(in, value.Field{Key: "k" + strconv.Itoa(i), Value: value.Int(int64(i))})
		}
		m := value.Map(in...)
		for i := range in {
			in[i].Value = value.Int(99)
		}
		if m.Len() != n {
			t.Fatalf("%d keys given twice: Len %d", n, m.Len())
		}
		i := 0
		for k, v := range m.Fields() {
			if k != "k"+strconv.Itoa(i) || !value.Equal(v, value.Int(int64(i))) {
				t.Fatalf("%d fields: field %d is %s = %v", n, i, k, v)
			}
			i++
		}

		items := make([]value.Value, n)
		for i := range items {
			items[i] = value.Int(int64(i))
		}
		l := value.List(items...)
		clear(items)
		if l.Len() != n {
			t.Fatalf("list of %d: Len %d", n, l.Len())
		}
		for i, v := range l.Items() {
			if !value.Equal(v, value.Int(int64(i))) {
				t.Fatalf("list of %d: item %d is %v", n, i, v)
			}
		}
	}
}
