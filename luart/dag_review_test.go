package luart

import (
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// TestToValueSharedTables: a table holding one table twice, nested 40
// deep, is 40 small Lua tables but 2^40 values once converted: the
// conversion must refuse it (like a cycle) rather than run for days.
func TestToValueSharedTables(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	if err := L.DoString(`t = {1} for i = 1, 40 do t = {t, t} end`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := toValue(L.GetGlobal("t")); done <- err }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "MiB once copied") {
			t.Fatalf("a value of 2^40 items: %v, want an error saying it is too large once copied", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the conversion is still running after 5s")
	}
}
