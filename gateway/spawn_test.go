package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/apptest"
)

// A handler spawning in a loop gets an error once its host runs
// host.max_processes processes, instead of filling the node with them.
func TestSpawnStopsAtMaxProcesses(t *testing.T) {
	app, _ := apptest.Start(t, "testdata/spawnapp")
	base := "http://" + apptest.Addr(t, app, "app:gateway")
	get := func() string {
		t.Helper()
		resp, err := http.Get(base + "/spawn")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		return string(b)
	}
	got := get()
	if !strings.HasPrefix(got, "50|") || !strings.Contains(got, "process host app:processes runs 50 processes already, its max_processes") {
		t.Fatalf("the spawner answered %q; want 50 processes, then the host's refusal", got)
	}
	if got := get(); !strings.HasPrefix(got, "0|") {
		t.Fatalf("a second call answered %q; want no room left", got)
	}
}
