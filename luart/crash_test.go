package luart_test

import (
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
)

// A Lua process that fails with nobody watching it is in the log: one
// error line with its pid, its entry id and the Lua error with its
// traceback.
func TestLuaCrashIsLogged(t *testing.T) {
	e := newEnv(t, nil)
	prog := e.process("app:crasher", `local function helper(n)
    error("kaput " .. n)
end
return { main = function() helper(7) end }`)
	id := e.spawn(prog)
	poll.Until(t, timeout, "the crash report", func() bool { return strings.Contains(e.logs.String(), "process crashed") })
	line := e.logs.String()
	for _, want := range []string{"level=ERROR", "pid=" + id.String(), "entry=app:crasher", "app:crasher.lua:2: kaput 7", `stack traceback:`, `in function 'helper'`} {
		if !strings.Contains(line, want) {
			t.Errorf("the crash report lacks %q:\n%s", want, line)
		}
	}
}

// An entry whose method the file does not define (method: mian), in a
// table built so that Compile cannot see it, fails at its first spawn with an error naming the entry, the missing function and
// the functions there are, and that error is in the log.
func TestMissingMethodIsLogged(t *testing.T) {
	e := newEnv(t, nil)
	prog := e.processMethod("app.ws:handler", "mian", `return setmetatable({ main = function() end, handler = function() end, version = 2 }, {})`)
	id := e.spawn(prog)
	poll.Until(t, timeout, "the crash report", func() bool { return strings.Contains(e.logs.String(), "process crashed") })
	line := e.logs.String()
	for _, want := range []string{
		"pid=" + id.String(), "entry=app.ws:handler",
		`app.ws:handler: method not found: app.ws:handler.lua defines no function \"mian\"`,
		`the table it returns has the functions \"handler\", \"main\"`,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("the log lacks %q:\n%s", want, line)
		}
	}
}

// A script chooses its error's text: a huge one is cut in the crash report
// and in the failed-request line, so one error cannot make the log line
// as long as the script's memory budget.
func TestHugeErrorsAreCutInTheLog(t *testing.T) {
	e := newEnv(t, nil)
	prog := e.process("app:bigcrash", `return { main = function() error(string.rep("x", 200000)) end }`)
	e.spawn(prog)
	poll.Until(t, timeout, "the crash report", func() bool { return strings.Contains(e.logs.String(), "process crashed") })
	h := e.function("app:bigfail", `return { handler = function() error(string.rep("y", 200000)) end }`)
	if w := serve(h, "GET", "/", ""); w.Code != 500 {
		t.Fatalf("status %d", w.Code)
	}
	logs := e.logs.String()
	for _, want := range []string{"process crashed", "lua handler failed", "…(cut)"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q", want)
		}
	}
	if len(logs) > 64<<10 {
		t.Errorf("the log is %d bytes for two errors: the error texts were not cut", len(logs))
	}
}
