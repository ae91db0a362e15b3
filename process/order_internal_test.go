package process

import (
	"math"
	"testing"
)

func TestGatePassedAcrossWrap(t *testing.T) {
	for _, c := range []struct {
		popped, gate uint32
		want         bool
	}{
		{5, 3, true},
		{3, 3, true},
		{3, 5, false},
		{1, math.MaxUint32, true},  // the count wrapped past the gate
		{math.MaxUint32, 1, false}, // the gate is past the wrap, the count not yet
	} {
		if got := passed(c.popped, c.gate); got != c.want {
			t.Errorf("passed(%d, %d) = %v, want %v", c.popped, c.gate, got, c.want)
		}
	}
}
