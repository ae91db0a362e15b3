package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/ratelog"
)

func TestMain(m *testing.M) {
	// Re-executed by TestRunStopsOnSIGTERM: be the wsrelay command.
	if args := os.Getenv("WSRELAY_TEST_MAIN"); args != "" {
		os.Exit(run(context.Background(), strings.Fields(args), os.Stdout, os.Stderr))
	}
	leakcheck.Main(m)
}

const timeout = 30 * time.Second

// writeApp writes files (path → content) into a new directory.
func writeApp(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var smallApp = map[string]string{
	"_index.yaml": `version: "1.0"
namespace: app
entries:
  - name: gateway
    kind: http.service
    addr: 127.0.0.1:0
  - name: api
    kind: http.router
    meta: {server: gateway}
  - name: ping
    kind: http.endpoint
    meta: {router: api}
    method: GET
    path: /ping
    func: ping_fn
  - name: ping_fn
    kind: function.lua
    source: file://ping.lua
    method: handler
    modules: [http]
`,
	"ping.lua": `local http = require("http")
return { handler = function() http.response():write("pong") end }`,
}

func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCheck(t *testing.T) {
	dir := writeApp(t, smallApp)
	if code, out, errOut := runCmd("check", dir); code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("check of a valid app: %d %q %q", code, out, errOut)
	}
	// YAML and Lua problems are reported together.
	broken := writeApp(t, map[string]string{
		"_index.yaml": strings.Replace(smallApp["_index.yaml"], "addr: 127.0.0.1:0", "addr: nowhere\n    colour: red", 1),
		"ping.lua":    "return { handler = function() end",
	})
	code, _, errOut := runCmd("check", broken)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"3 problem(s)",
		`_index.yaml:6: entry app:gateway: addr: "nowhere" is not a host:port address`,
		"_index.yaml:7: entry app:gateway: colour: unknown field for kind http.service",
		"ping.lua:1: entry app:ping_fn: source: Lua syntax error",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check output lacks %q:\n%s", want, errOut)
		}
	}
	if code, _, errOut := runCmd("check", filepath.Join(dir, "nope")); code != 1 || !strings.Contains(errOut, "cannot read the app directory") {
		t.Errorf("missing dir: %d %q", code, errOut)
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, 2, "Usage:"},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"version"}, 0, "wsrelay devel"},
		{[]string{"run", "--help"}, 0, "Usage: wsrelay run [flags] [DIR]"},
		{[]string{"run", "-h"}, 0, "-pprof"},
		{[]string{"check", "--help"}, 0, "Usage: wsrelay check [DIR]"},
		{[]string{"run", "--colour"}, 2, "flag provided but not defined: -colour"},
		{[]string{"help"}, 0, "Usage:"},
		{[]string{"run", "--log-level", "loud", "."}, 2, `--log-level "loud"`},
		{[]string{"run", "--log-format", "xml", "."}, 2, `--log-format "xml"`},
		{[]string{"run", "--shutdown-timeout", "0s", "."}, 2, "--shutdown-timeout must be positive"},
		{[]string{"run", "--lua-log-lines", "0", "."}, 2, `--lua-log-lines "0": use a whole number of lines a second of at least 1, or unlimited`},
		{[]string{"run", "--lua-log-lines", "lots", "."}, 2, `--lua-log-lines "lots"`},
		{[]string{"run", "-h"}, 0, "-lua-log-lines"},
		{[]string{"run", "a", "b"}, 2, "expected one app directory, got 2"},
		{[]string{"run", "--pprof", "0.0.0.0:6060", "."}, 2, "the profiler listens on loopback only"},
		{[]string{"run", "--pprof", "6060", "."}, 2, `--pprof "6060"`},
		{[]string{"baseline", "--pprof", "10.1.2.3:6061"}, 2, "the profiler listens on loopback only"},
		{[]string{"bench", "echo", "--runs", "0"}, 2, "--runs 0: use 1 to 100"},
		{[]string{"check", "a", "b"}, 2, "expected one app directory, got 2"},
	} {
		code, out, errOut := runCmd(tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.out) {
			t.Errorf("wsrelay %v: exit %d, output %q; want %d and %q", tc.args, code, out+errOut, tc.code, tc.out)
		}
	}
}

// syncWriter collects output written from another goroutine.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

var (
	listening = regexp.MustCompile(`listening service=app:gateway addr=(\S+)`)
	profiler  = regexp.MustCompile(`"profiler listening" url=(\S+)`)
)

func TestRunServesAndStops(t *testing.T) {
	dir := writeApp(t, smallApp)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncWriter{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--node", "n7", "--pprof", "127.0.0.1:0", dir}, io.Discard, logs)
	}()
	var addr string
	poll.Until(t, timeout, "a listening line in the log", func() bool {
		if m := listening.FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	resp, err := http.Get("http://" + addr + "/ping")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "pong" {
		t.Errorf("GET /ping = %q", b)
	}
	// --pprof serves Go's profiler beside the app.
	if m := profiler.FindStringSubmatch(logs.String()); m == nil {
		t.Errorf("no profiler line:\n%s", logs)
	} else if resp, err := http.Get(m[1] + "goroutine?debug=1"); err != nil || resp.StatusCode != 200 {
		t.Errorf("GET %sgoroutine: %v %v", m[1], resp, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d:\n%s", code, logs)
		}
	case <-time.After(timeout):
		t.Fatal("run did not return after its context ended")
	}
	if !strings.Contains(logs.String(), "node=n7") || !strings.Contains(logs.String(), "stopped") {
		t.Errorf("logs:\n%s", logs)
	}
}

// logWaiter reads a server's log lines from stderr; the function it
// returns skips to the next line containing what and returns it, and
// fails the test when the server exits or timeout passes first.
func logWaiter(t *testing.T, stderr io.Reader) func(what string) string {
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			lines <- s.Text()
		}
	}()
	return func(what string) string {
		t.Helper()
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("the server exited before logging %q", what)
				}
				if strings.Contains(l, what) {
					return l
				}
			case <-time.After(timeout):
				t.Fatalf("no %q logged", what)
			}
		}
	}
}

func TestRunStopsOnSIGTERM(t *testing.T) {
	dir := writeApp(t, smallApp)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WSRELAY_TEST_MAIN=run --log-format json "+dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor := logWaiter(t, stderr)
	waitFor(`"msg":"started"`)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitFor(`"msg":"stopped"`)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}

// TestCheckWarnsOfRelayHeaderWithoutRelay: check names an endpoint whose
// function sets X-WS-Relay on a router that has no websocket_relay.
func TestCheckWarnsOfRelayHeaderWithoutRelay(t *testing.T) {
	code, out, errOut := runCmd("check", filepath.Join("..", "..", "gateway", "testdata", "edgeapp"))
	if code != 0 {
		t.Fatalf("check: exit %d %q %q", code, out, errOut)
	}
	if !strings.Contains(out, "warning: app:leaky: its function app:connect_fn") || !strings.Contains(out, "does not list websocket_relay") {
		t.Errorf("check does not warn of the leaky endpoint:\n%s", out)
	}
}

func TestParseLogLines(t *testing.T) {
	for in, want := range map[string]int{"50": 50, "1": 1, "100000": 100000, "unlimited": ratelog.NoLimit} {
		if got, err := parseLogLines(in); err != nil || got != want {
			t.Errorf("parseLogLines(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"0", "-1", "", "1.5", "none"} {
		if _, err := parseLogLines(in); err == nil {
			t.Errorf("parseLogLines(%q): no error", in)
		}
	}
}
