package process

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
)

// TestPIDSetAgainstAMap: random adds and removes across the slice/map
// boundary agree with a plain map at every step, and an emptied set holds
// no memory.
func TestPIDSetAgainstAMap(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	var s pidSet
	model := map[pid.PID]bool{}
	for step := range 20000 {
		p := pid.PID{Node: "n", Host: "h", ID: uint64(r.IntN(24) + 1)}
		if r.IntN(2) == 0 {
			if got, want := s.add(p), !model[p]; got != want {
				t.Fatalf("step %d: add(%v) = %v, want %v", step, p, got, want)
			}
			model[p] = true
		} else {
			if got, want := s.remove(p), model[p]; got != want {
				t.Fatalf("step %d: remove(%v) = %v, want %v", step, p, got, want)
			}
			delete(model, p)
		}
		if s.len() != len(model) {
			t.Fatalf("step %d: len %d, want %d", step, s.len(), len(model))
		}
		all := s.appendTo(nil)
		if len(all) != len(model) {
			t.Fatalf("step %d: appendTo gives %d PIDs, want %d", step, len(all), len(model))
		}
		for _, q := range all {
			if !model[q] || !s.has(q) {
				t.Fatalf("step %d: %v listed but not in the set", step, q)
			}
		}
		slices.SortFunc(all, func(a, b pid.PID) int { return int(a.ID) - int(b.ID) })
		if len(slices.Compact(all)) != len(model) {
			t.Fatalf("step %d: a PID listed twice", step)
		}
		if len(model) == 0 && (s.few != nil || s.many != nil) {
			t.Fatalf("step %d: an empty set holds memory", step)
		}
	}
}
