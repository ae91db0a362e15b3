package luart_test

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/luart"
)

// childEnv names the test a child process runs (inChild).
const childEnv = "WSRELAY_LUART_CHILD"

// inChild runs body in a child process, a new run of this test binary
// limited to the calling test, and fails the test if the child fails or
// dies: code that could end the process (a fatal out-of-memory) then fails
// one test instead of killing the test binary. Tests using it must be top
// level and not parallel.
func inChild(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		body(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the child process failed (%v):\n%s", err, lastOf(string(out), 4000))
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the child process did not run %s:\n%s", t.Name(), lastOf(string(out), 4000))
	}
	t.Logf("the child process:\n%s", lastOf(string(out), 2000))
}

func lastOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// allocated returns how many bytes the process has allocated so far: the
// difference over an operation bounds the heap it can have used.
func allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// A 10 MiB body of [0,0,0,…] is 5 million numbers: about 120 MiB of Lua
// data. req:body_json in a handler limited to 8 MiB stops with the memory
// error after building about that much, instead of building it all and
// returning normally.
func TestBodyJSONStopsAtTheBudget(t *testing.T) {
	inChild(t, func(t *testing.T) {
		const budget = 8 << 20
		e := newEnv(t, &luart.Options{HandlerMemory: budget})
		h := e.function("app:bodyjson", `local http = require("http")
return { handler = function()
    local v, err = http.request():body_json()
    http.response():write(tostring(v and #v or err))
end }`, "http")
		body := "[" + strings.Repeat("0,", 5<<20-2) + "0]"
		before := allocated()
		w := serve(h, "POST", "/", body)
		used := allocated() - before
		if w.Code != 500 || !strings.Contains(e.logs.String(), "memory limit exceeded") {
			t.Fatalf("status %d, body %.200q; want 500 and the memory error in the log:\n%.2000s", w.Code, w.Body.String(), e.logs.String())
		}
		// Reading the body takes about 3 × its size (io.ReadAll grows its
		// buffer); the decoder, the budget plus what a table's growth leaves
		// behind (the same again) and the measurements.
		if limit := uint64(3*len(body) + 6*budget); used > limit {
			t.Fatalf("the call allocated %d MiB, more than %d MiB for an %d MiB budget", used>>20, limit>>20, budget>>20)
		}
		t.Logf("allocated %d MiB", used>>20)
	})
}
