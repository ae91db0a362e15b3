package luart_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/poll"
)

// Through a live gateway: handlers and a process that pass their bounds
// (memory_limit from the config, a catastrophic pattern under a 300ms
// timeout) fail alone, while another endpoint keeps answering, and
// nothing one request tried to leave behind is seen by the next.
func TestLiveGatewayBounds(t *testing.T) {
	app, logs := apptest.Start(t, "testdata/bounds")
	base := "http://" + apptest.Addr(t, app, "bounds:gateway")
	client := &http.Client{Timeout: timeout}
	get := func(path string, header ...string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if len(header) == 2 {
			req.Header.Set(header[0], header[1])
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	okNow := func() {
		t.Helper()
		if code, body := get("/ok"); code != 200 || body != "nil nil" {
			t.Fatalf("/ok: %d %q", code, body)
		}
	}
	okNow()
	procs := app.Node().Stats().Processes

	// The bounded requests run at once; /ok answers all the while.
	var wg sync.WaitGroup
	results := make(map[string]int)
	var mu sync.Mutex
	for _, path := range []string{"/rep?n=100000000000", "/rep?n=1000000000", "/rep?n=5000000", "/pattern", "/pattern"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, _ := get(path, "Authorization", "Bearer secret-A")
			mu.Lock()
			results[path] = code
			mu.Unlock()
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		default:
			okNow()
		}
	}
	for path, code := range results {
		want := http.StatusInternalServerError
		if path == "/pattern" {
			want = http.StatusServiceUnavailable
		}
		if code != want {
			t.Errorf("%s: %d, want %d", path, code, want)
		}
	}
	// Within the 4MiB of rep_fn's memory_limit, rep works.
	if code, body := get("/rep?n=1000000"); code != 200 || body != "1000000" {
		t.Errorf("/rep?n=1000000: %d %q", code, body)
	}
	okNow()

	// A process past its memory_limit (8MiB) ends; the node is back to
	// the processes it had.
	if code, body := get("/spawn"); code != 200 || !strings.HasPrefix(body, "{") {
		t.Fatalf("/spawn: %d %q", code, body)
	}
	poll.Until(t, timeout, "the hog process to end", func() bool { return app.Node().Stats().Processes == procs })
	okNow()
	if !strings.Contains(logs.String(), "memory limit exceeded") {
		t.Errorf("the log does not say why the handlers failed:\n%s", logs.String())
	}
}
