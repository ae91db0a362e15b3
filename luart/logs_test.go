package luart_test

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/luart"
)

// A script can log in a loop; its lines are limited per entry, apart
// from its handler's errors and other entries' lines (docs/lua.md,
// "logger").

// frozenLogs gives the env's log limits a clock that moves only when the
// returned function is called (by a second).
func frozenLogs(e *env) (nextSecond func()) {
	var now atomic.Int64
	now.Store(time.Unix(1000, 0).UnixNano())
	luart.SetLogClock(e.rt, func() time.Time { return time.Unix(0, now.Load()) })
	return func() { now.Add(int64(time.Second)) }
}

// noisy logs n lines with logger and n with print, as a handler.
const noisy = `
local http = require("http")
local logger = require("logger")
return { handler = function()
    local n = tonumber(http.request():query("n"))
    for i = 1, n do
        logger.info("tick", {i = i})
        print("tock", i)
    end
end }`

// TestLoggerFlood: a handler that calls logger.info and print in a tight
// loop writes Options.LogLines lines in a second, then one line counting
// the others; another entry's logger line and a failing handler's error
// are still logged meanwhile, and a flood of handler errors is limited
// on its own.
func TestLoggerFlood(t *testing.T) {
	e := newEnv(t, nil)
	next := frozenLogs(e)
	h := e.function("app:noisy", noisy, "http", "logger")
	broken := e.function("app:broken", `return { handler = function() error("boom") end }`)
	if w := serve(h, "GET", "/?n=5000", ""); w.Code != 200 {
		t.Fatalf("noisy handler: %d %s", w.Code, w.Body)
	}
	ok(t, e.run(`return { main = function() require("logger").error("still heard"); return true end }`, "logger"))
	for range 100 {
		if w := serve(broken, "GET", "/", ""); w.Code != 500 {
			t.Fatalf("broken handler: %d", w.Code)
		}
	}
	out := e.logs.String()
	noisyLines := strings.Count(out, "entry=app:noisy")
	if noisyLines != luart.DefaultLogLines {
		t.Fatalf("%d lines of 10000 logged by app:noisy in one second, want %d:\n%.3000s", noisyLines, luart.DefaultLogLines, out)
	}
	if !strings.Contains(out, `level=ERROR msg="still heard" entry=test:TestLoggerFlood`) {
		t.Fatalf("another entry's line was silenced:\n%s", tail(out))
	}
	if n := strings.Count(out, `msg="lua handler failed" entry=app:broken`); n != luart.HandlerErrorLines {
		t.Fatalf("%d of 100 handler errors logged in one second, want %d:\n%s", n, luart.HandlerErrorLines, tail(out))
	}

	next()
	serve(h, "GET", "/?n=1", "")
	serve(broken, "GET", "/", "")
	out = e.logs.String()
	for _, want := range []string{
		`level=INFO msg="9950 lua log lines suppressed" entry=app:noisy suppressed=9950`,
		`level=ERROR msg="80 lua handler errors suppressed" entry=app:broken suppressed=80`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q:\n%s", want, tail(out))
		}
	}
}

// TestLogLinesOption: Options.LogLines sets the limit; negative lifts it.
func TestLogLinesOption(t *testing.T) {
	// 300 calls of logger.info and 300 of print: the limit counts lines.
	for _, tc := range []struct{ lines, want int }{{5, 5}, {-1, 600}} {
		t.Run(fmt.Sprint(tc.lines), func(t *testing.T) {
			e := newEnv(t, &luart.Options{LogLines: tc.lines})
			frozenLogs(e)
			serve(e.function("app:noisy", noisy, "http", "logger"), "GET", "/?n=300", "")
			if n := strings.Count(e.logs.String(), "entry=app:noisy"); n != tc.want {
				t.Fatalf("LogLines %d: %d lines, want %d", tc.lines, n, tc.want)
			}
		})
	}
}

func tail(out string) string {
	if len(out) > 3000 {
		return "…" + out[len(out)-3000:]
	}
	return out
}

// TestLogLineLength: however large what a script or a client hands the
// log (messages, fields and their names, print's arguments, a request's
// path, an error), one line stays a few tens of KiB.
func TestLogLineLength(t *testing.T) {
	e := newEnv(t, nil)
	h := e.function("app:big", `
local logger = require("logger")
return { handler = function()
    local big = string.rep("v", 100000)
    local fields = {}
    for i = 1, 40 do fields[string.rep("k", 1000) .. i] = big end
    logger.warn(big, fields)
    print(big, big, big)
    error(big)
end }`, "logger")
	path := "/" + strings.Repeat("p", 200000)
	if w := serve(h, "GET", path, ""); w.Code != 500 {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	out := e.logs.String()
	for _, want := range []string{`level=WARN msg=vvv`, `fields_dropped=`, `msg="lua print"`, `msg="lua handler failed"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in\n%.2000s", want, out)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if len(l) > 40<<10 {
			t.Errorf("a line of %d bytes: %.200s…", len(l), l)
		}
	}
}
