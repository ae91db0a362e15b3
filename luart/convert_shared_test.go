package luart

import (
	"runtime"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// TestToValueSharedTables: a table holding one table twice, nested 40
// deep, is 41 small Lua tables but 2^40 values once converted: the
// conversion refuses it (like a cycle) before copying anything, after
// visiting each table a bounded number of times. Counted: the tables the
// size pass visits, and the bytes the refusal allocates.
func TestToValueSharedTables(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	if err := L.DoString(`t = {1} for i = 1, 40 do t = {t, t} end`); err != nil {
		t.Fatal(err)
	}
	dag := L.GetGlobal("t")

	const steps = 1 << 30
	m := sizer{max: MaxValueSize, steps: steps}
	if _, _, _, err := m.size(dag, nil); err == nil || !strings.Contains(err.Error(), "MiB once copied") {
		t.Fatalf("the size pass of a value of 2^40 items: %v, want it over the bound", err)
	}
	// Each of the 41 tables is measured once; the second reference to
	// each is a look-up.
	if visits := steps - m.steps; visits > 2*41 {
		t.Fatalf("the size pass visited %d tables for 41 distinct ones", visits)
	}

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := toValue(dag)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.Contains(err.Error(), "MiB once copied") {
		t.Fatalf("a value of 2^40 items: %v, want an error saying it is too large once copied", err)
	}
	if used := after.TotalAlloc - before.TotalAlloc; used > 64<<10 {
		t.Fatalf("refusing it allocated %d bytes: the conversion copied before it refused", used)
	}
}
