package gateway_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const timeout = 30 * time.Second

// testApp builds the app in testdata/app, with a probe process registered
// as "probe" before anything starts, and starts it.
type testApp struct {
	*gateway.App
	base  string
	addr  string
	logs  *testlog.Buffer
	probe chan process.Message
}

func startApp(t *testing.T) *testApp { return startAppIn(t, "testdata/app") }

func startAppIn(t *testing.T, dir string) *testApp {
	t.Helper()
	cfg, err := config.LoadDir(dir, config.StandardKinds())
	if err != nil {
		t.Fatal(err)
	}
	logs := &testlog.Buffer{}
	app, err := gateway.Build(cfg, gateway.Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), NodeName: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	ta := &testApp{App: app, logs: logs, probe: make(chan process.Message, 100)}
	_, err = app.Node().Spawn("app:processes", func(p *process.Process) (value.Value, error) {
		for {
			m, ok := p.Receive(p.Context())
			if !ok {
				return value.Nil(), nil
			}
			ta.probe <- m
		}
	}, process.SpawnOptions{Name: "probe"})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := app.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	addr, ok := app.Addr("app:gateway")
	ta.addr = addr.String()
	if !ok {
		t.Fatal("app:gateway is not listening")
	}
	ta.base = "http://" + addr.String()
	return ta
}

func (ta *testApp) do(t *testing.T, method, path, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, ta.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestServeApp(t *testing.T) {
	ta := startApp(t)
	for _, tc := range []struct {
		name, method, path, body string
		status                   int
		want                     string
		contentType              string
	}{
		{"lua json with path param and query", "GET", "/api/hello/ada?lang=en", "", 200, `{"hello":"ada","lang":"en"}`, "application/json"},
		{"post json", "POST", "/api/echo", `{"a":[1,2]}`, 201, `{"got":{"a":[1,2]}}`, "application/json"},
		{"post bad json", "POST", "/api/echo", `{nope`, 400, `{"error":`, "application/json"},
		{"rest param", "GET", "/api/files/a/b/c.txt", "", 200, `{"rest":"a/b/c.txt"}`, ""},
		{"wrong method", "DELETE", "/api/hello/ada", "", 405, "", ""},
		{"unknown api path", "GET", "/api/nothing", "", 404, "", ""},
		{"static index", "GET", "/", "", 200, "home page", "text/html"},
		{"static nested", "GET", "/sub/file.txt", "", 200, "nested file", "text/plain"},
		{"no directory listing", "GET", "/empty/", "", 404, "", ""},
		{"static missing", "GET", "/missing.txt", "", 404, "", ""},
		{"static post", "POST", "/sub/file.txt", "x", 405, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ta.do(t, tc.method, tc.path, tc.body, nil)
			if resp.StatusCode != tc.status || !strings.Contains(body, tc.want) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, resp.StatusCode, body, tc.status, tc.want)
			}
			if tc.contentType != "" && !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.contentType) {
				t.Errorf("content type %q, want %q", resp.Header.Get("Content-Type"), tc.contentType)
			}
		})
	}
	var v map[string]string
	_, body := ta.do(t, "GET", "/api/hello/%E2%9C%93", "", nil)
	if err := json.Unmarshal([]byte(body), &v); err != nil || v["hello"] != "✓" {
		t.Errorf("escaped path param: %q", body)
	}
}

func TestCORS(t *testing.T) {
	ta := startApp(t)
	preflight := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
	for _, tc := range []struct {
		origin string
		status int
		allow  string
	}{
		{"https://ok.example", 204, "https://ok.example"},
		{"https://a.trusted.example", 204, "https://a.trusted.example"},
		{"https://evil.example", 403, ""},
	} {
		h := map[string]string{"Origin": tc.origin}
		for k, v := range preflight {
			h[k] = v
		}
		resp, _ := ta.do(t, "OPTIONS", "/api/echo", "", h)
		if resp.StatusCode != tc.status || resp.Header.Get("Access-Control-Allow-Origin") != tc.allow {
			t.Errorf("preflight from %s: %d, allow-origin %q", tc.origin, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
		if tc.status == 204 && (resp.Header.Get("Access-Control-Max-Age") != "600" || resp.Header.Get("Access-Control-Allow-Headers") != "content-type") {
			t.Errorf("preflight headers %v", resp.Header)
		}
	}
	resp, body := ta.do(t, "GET", "/api/hello/x", "", map[string]string{"Origin": "https://ok.example"})
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://ok.example" || !strings.Contains(body, "hello") {
		t.Errorf("simple request: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = ta.do(t, "GET", "/api/hello/x", "", map[string]string{"Origin": "https://evil.example"})
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a disallowed origin's simple request gets no CORS headers: %d %v", resp.StatusCode, resp.Header)
	}
}

// TestServiceRestartsWithBackoff: the crasher service fails at once every
// time; it is started once and restarted max_attempts (3) times, with
// delays growing by the backoff factor, then given up.
func TestServiceRestartsWithBackoff(t *testing.T) {
	ta := startApp(t)
	seen := map[string]bool{}
	for range 4 {
		select {
		case m := <-ta.probe:
			if m.Topic != "started" {
				t.Fatalf("probe got %s", m.Topic)
			}
			p, _ := m.Payload.Text()
			seen[p] = true
		case <-time.After(timeout):
			t.Fatalf("only %d starts", len(seen))
		}
	}
	if len(seen) != 4 {
		t.Errorf("4 starts should be 4 processes, got %v", seen)
	}
	poll.Until(t, timeout, "the service to give up", func() bool { return strings.Contains(ta.logs.String(), "giving up") })
	logs := ta.logs.String()
	for _, d := range []string{"in=10ms", "in=20ms", "in=40ms"} {
		if !strings.Contains(logs, d) {
			t.Errorf("no restart %s in the log:\n%s", d, logs)
		}
	}
	if n := strings.Count(logs, "service started"); n != 4 {
		t.Errorf("%d starts logged, want 4", n)
	}
	select {
	case m := <-ta.probe:
		t.Errorf("a fifth start after giving up: %v", m)
	default:
	}
}

// TestShutdown: an in-flight request finishes, new connections are
// refused, and every process ends.
func TestShutdown(t *testing.T) {
	ta := startApp(t)
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		resp, err := http.Get(ta.base + "/api/slow")
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(b)}
	}()
	for m := range ta.probe { // the crasher's starts come first; wait for the slow handler
		if m.Topic == "slow_started" {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := ta.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	r := <-done
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Errorf("in-flight request: %+v", r)
	}
	if _, err := http.Get(ta.base + "/"); err == nil {
		t.Error("a new request was served after shutdown")
	}
	if n := ta.Node().Stats().Processes; n != 0 {
		t.Errorf("%d processes still running", n)
	}
	if _, ok := ta.Node().Lookup("probe"); ok {
		t.Error("the probe's name outlived it")
	}
}
