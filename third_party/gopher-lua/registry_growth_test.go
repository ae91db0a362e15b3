package lua

import (
	"runtime"
	"testing"
)

// wsrelay patch: filling the value stack (unpack of a long table) copies
// it a bounded number of times, not once per fixed step: 200,000 slots
// allocated 2.4 GB with a step of 128.
func TestRegistryGrowthIsGeometric(t *testing.T) {
	L := NewState(Options{RegistrySize: 128, RegistryGrowStep: 128, RegistryMaxSize: 1 << 20, MinimizeStackMemory: true})
	defer L.Close()
	if err := L.DoString(`t = {} for i = 1, 200000 do t[i] = i end`); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := L.DoString(`n = select("#", unpack(t))`); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := LVAsNumber(L.GetGlobal("n")); n != 200000 {
		t.Fatalf("unpack gave %v values", n)
	}
	// The final stack is 200,000 slots of 16 bytes (3.2 MB); geometric
	// growth copies a few times that in all.
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 64<<20 {
		t.Errorf("unpack of 200,000 values allocated %d MiB", grown>>20)
	}
}
