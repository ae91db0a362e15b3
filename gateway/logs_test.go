package gateway_test

import (
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/ratelog"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/luart"
)

// Floods of log lines against a live app (docs/config.md, "Log lines"):
// each kind writes at most its limit a second, and every line it does not
// write is counted in a "suppressed" line.

const luaLines = 10 // the app's LuaLogLines (--lua-log-lines)

// startLogApp starts testdata/logapp logging at debug level, with
// luaLines for Lua's logger and print.
func startLogApp(t *testing.T) (base string, logs *testlog.Buffer) {
	t.Helper()
	panics := &gateway.Middleware{Name: "panic", Stage: gateway.Pre, Prefix: "panic",
		New: func(gateway.MiddlewareContext, map[string]string) (func(http.Handler) http.Handler, error) {
			return func(http.Handler) http.Handler {
				return http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("a bug in Go middleware") })
			}, nil
		}}
	app, logs := apptest.StartLogging(t, "testdata/logapp", slog.LevelDebug, gateway.Options{LuaLogLines: luaLines,
		Middleware: []*gateway.Middleware{gateway.CORS(), gateway.Relay(), panics}}, nil)
	return "http://" + apptest.Addr(t, app, "app:gateway"), logs
}

// flood is a kind of line, and how many of them the test caused.
type flood struct {
	what    string           // as its "suppressed" line names it
	written func(string) int // counts its lines written in a log
	perSec  int              // its limit
	started time.Time
	caused  int
}

var suppressedLine = regexp.MustCompile(`msg="(\d+) ([^"]+) suppressed"`)

// check causes one more round of lines with more (which returns how many
// it caused) until one gets through after a line counting the others;
// then the lines written and counted must add up to those caused, and no
// more may have been written than the limit allows in the time taken.
func (f *flood) check(t *testing.T, logs *testlog.Buffer, more func() int) {
	t.Helper()
	var written, counted int
	poll.Until(t, timeout, "a line counting the suppressed "+f.what, func() bool {
		f.caused += more()
		out := logs.String()
		written, counted = f.written(out), 0
		for _, m := range suppressedLine.FindAllStringSubmatch(out, -1) {
			if m[2] == f.what {
				n, _ := strconv.Atoi(m[1])
				counted += n
			}
		}
		return counted > 0 && written+counted == f.caused
	})
	elapsed := time.Since(f.started)
	if most := f.perSec * (int(elapsed/time.Second) + 1); written > most {
		t.Errorf("%s: %d lines written of %d in %v, want at most %d", f.what, written, f.caused, elapsed, most)
	}
	if written >= f.caused/2 {
		t.Errorf("%s: %d lines written of %d: the limit did not hold", f.what, written, f.caused)
	}
}

// get sends a GET, with the Host header host unless empty.
func get(t *testing.T, c *http.Client, url, host string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if host != "" {
		req.Host = host
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestLogFloodClients: thousands of requests that net/http logs (a
// handler's panic, with its stack) or the gateway refuses (a Host that a
// loopback server does not answer: DNS rebinding) write a bounded number
// of lines, each cut to a bounded length.
func TestLogFloodClients(t *testing.T) {
	base, logs := startLogApp(t)
	c := &http.Client{Timeout: timeout}
	defer c.CloseIdleConnections()
	fresh := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	f := &flood{what: "lines about HTTP requests", perSec: ratelog.PerSecond, started: time.Now(),
		written: func(out string) int {
			return strings.Count(out, "http: panic serving") + strings.Count(out, "request refused: a loopback connection")
		}}
	refuse := func() int {
		if code := get(t, c, base+"/api/noisy", "evil.test"); code != http.StatusMisdirectedRequest {
			t.Fatalf("host refusal: %d", code)
		}
		return 1
	}
	for i := range 2000 {
		if i%4 == 0 {
			// net/http drops the connection; on a new one, the client
			// does not send the request again.
			if _, err := fresh.Get(base + "/panic/x"); err == nil {
				t.Fatal("a panic answered")
			}
			f.caused++
		} else {
			f.caused += refuse()
		}
	}
	f.check(t, logs, refuse)
	out := logs.String()
	if !strings.Contains(out, `level=WARN msg="http: panic serving`) || !strings.Contains(out, "service=app:gateway") {
		t.Fatalf("the lines do not say what and where:\n%.3000s", out)
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 2<<10 {
			t.Errorf("a line of %d bytes: %.200s…", len(l), l)
		}
	}
}

// TestLogFloodLua: a handler that logs in a loop writes its entry's
// LuaLogLines a second, and a handler that fails on every request
// luart.HandlerErrorLines a second.
func TestLogFloodLua(t *testing.T) {
	base, logs := startLogApp(t)
	c := &http.Client{Timeout: timeout}
	defer c.CloseIdleConnections()

	noisy := func(n int) int {
		if code := get(t, c, base+"/api/noisy?n="+strconv.Itoa(n), ""); code != http.StatusOK {
			t.Fatalf("noisy: %d", code)
		}
		return 2 * n // logger's line and print's
	}
	f := &flood{what: "lua log lines", perSec: luaLines, started: time.Now(),
		written: func(out string) int {
			return strings.Count(out, "entry=app:noisy_fn") - strings.Count(out, "lua log lines suppressed")
		}}
	f.caused = noisy(3000)
	f.check(t, logs, func() int { return noisy(1) })

	broken := func() int {
		if code := get(t, c, base+"/api/broken", ""); code != http.StatusInternalServerError {
			t.Fatalf("broken: %d", code)
		}
		return 1
	}
	e := &flood{what: "lua handler errors", perSec: luart.HandlerErrorLines, started: time.Now(),
		written: func(out string) int { return strings.Count(out, `msg="lua handler failed" entry=app:broken_fn`) }}
	for range 500 {
		e.caused += broken()
	}
	e.check(t, logs, broken)
}
