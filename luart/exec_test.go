package luart_test

import (
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// execChildren are the programs the exec tests run as children.
func execChildren(e *env) {
	e.process("exec:adder", `return { main = function(a, b) return a + b end }`)
	e.process("exec:fails", `return { main = function() error("child boom") end }`)
	e.process("exec:ctx", `return { main = function(extra)
		local ctx = require("ctx")
		local msg = process.inbox():receive()
		local pid = process.registry.lookup("exec_named")
		return {k = ctx.get("k"), extra = extra, msg = msg:payload():data(), named = pid == process.pid()}
	end }`, "ctx")
	// waits reports its PID to the probe, then waits for a message or a
	// cancel: cancelled, it returns the reason.
	e.process("exec:waits", `return { main = function(probe)
		process.send(probe, "child", process.pid())
		local inbox, events = process.inbox(), process.events()
		local r = channel.select{inbox:case_receive(), events:case_receive()}
		if r.channel == inbox and r.ok then return "message" end
		local ev = r.channel == events and r.value or events:receive()
		if ev.kind == process.event.CANCEL then return "child cancelled: " .. ev.reason end
		return "event " .. ev.kind
	end }`)
}

// process.exec and spawner:exec return the child's result, or nil and an
// error naming the child.
func TestExecResults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	execChildren(e)
	cases := map[string]struct{ code, want string }{
		"result": {`
			local r, err = process.exec("exec:adder", "app:processes", 2, 3)
			return tostring(r) .. " " .. tostring(err)`, "5 nil"},
		"error": {`
			local r, err = process.exec("exec:fails", "app:processes")
			return tostring(r) .. " " .. tostring(err)`, "nil process.exec: exec:fails: exec:fails.lua:1: child boom"},
		"unknown entry": {`
			local r, err = process.exec("exec:nobody", "app:processes")
			return tostring(r) .. " " .. tostring(err)`, `nil process.exec: unknown process.lua entry "exec:nobody"`},
		"unknown host": {`
			local r, err = process.exec("exec:adder", "app:nohost", 1, 2)
			return tostring(r) .. " " .. err:sub(1, 18)`, "nil process.exec: "},
		"spawner": {`
			local r, err = process.with_context({k = "v"}):with_name("exec_named"):with_message("m", "hello"):exec("exec:ctx", "app:processes", 7)
			assert(err == nil, err)
			return r.k .. " " .. r.extra .. " " .. r.msg .. " " .. tostring(r.named)`, "v 7 hello true"},
		"inside pcall": {`
			local ok, r = pcall(process.exec, "exec:adder", "app:processes", 40, 2)
			return tostring(ok) .. " " .. tostring(r)`, "true 42"},
		"from spawned coroutines": {`
			local results = channel.new(10)
			for i = 1, 5 do
				coroutine.spawn(function() results:send(process.exec("exec:adder", "app:processes", i, 100)) end)
			end
			local sum = 0
			for i = 1, 5 do sum = sum + results:receive() end
			return tostring(sum)`, "515"},
		"no EXIT in the caller's events": {`
			process.exec("exec:adder", "app:processes", 1, 1)
			local r = channel.select{process.events():case_receive(), default = true}
			return tostring(r.default)`, "true"},
		"not a string": {`
			local ok, err = pcall(process.exec, 42)
			return err:gsub("^.-:%d+: ", "")`, "process.exec: argument #1 (entry id) must be a string, got number"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := ok(t, e.run(`return { main = function() `+c.code+` end }`))
			if s, _ := got.Text(); !strings.HasPrefix(s, c.want) {
				t.Fatalf("got %v, want %q", got, c.want)
			}
		})
	}
}

// A process that ends while it waits in exec takes its child with it:
// terminated, or failing in another of its coroutines.
func TestExecCallerEndsChildEnds(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	execChildren(e)
	pr := e.probe()
	cases := map[string]string{
		"terminated": `process.exec("exec:waits", "app:processes", probe)`,
		"a coroutine fails": `
			coroutine.spawn(function() process.inbox():receive() error("caller boom") end)
			process.exec("exec:waits", "app:processes", probe)`,
		"waiting in a pcall": `pcall(process.exec, "exec:waits", "app:processes", probe)`,
		"waiting in place": `
			local t = setmetatable({}, {__index = function()
				local r = process.exec("exec:waits", "app:processes", probe)
				return r
			end})
			local r = t.x`,
	}
	for name, code := range cases {
		t.Run(name, func(t *testing.T) {
			p := e.process("exec:caller_"+strings.ReplaceAll(name, " ", "_"), `return { main = function(probe) `+code+` end }`)
			caller := e.spawnWatched(pr, p, value.String(pr.PID.String()))
			child := childPID(t, pr.Next("child"))
			if name == "a coroutine fails" {
				if err := e.node.Send(pr.PID, caller, "fail", value.Nil()); err != nil {
					t.Fatal(err)
				}
			} else if err := e.node.Terminate(caller); err != nil {
				t.Fatal(err)
			}
			r := pr.Await(caller)
			if r.Err == nil {
				t.Fatalf("the caller ended with %v, want an error", r.Value)
			}
			poll.Until(t, proctest.Timeout, "the exec'd child to end", func() bool { return !e.node.Alive(child) })
		})
	}
}

// A cancelled caller cancels its child and gets the child's result; its
// own CANCEL stays for its code.
func TestExecCallerCancelled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	execChildren(e)
	pr := e.probe()
	p := e.process("exec:cancelled", `return { main = function(probe)
		local r, err = process.exec("exec:waits", "app:processes", probe)
		local ev = process.events():receive()
		return tostring(r) .. " | " .. tostring(err) .. " | " .. ev.kind .. " " .. ev.reason
	end }`)
	caller := e.spawnWatched(pr, p, value.String(pr.PID.String()))
	child := childPID(t, pr.Next("child"))
	if err := e.node.Cancel(pr.PID, caller, "operator"); err != nil {
		t.Fatal(err)
	}
	got := ok(t, pr.Await(caller))
	want := "child cancelled: the process waiting for it in process.exec was cancelled | nil | CANCEL operator"
	if !isText(got, want) {
		t.Fatalf("got %v, want %q", got, want)
	}
	if e.node.Alive(child) {
		t.Fatal("the child is alive")
	}
}

// A handler's exec ends with its request: on timeout the child is
// terminated and the handler fails with the timeout.
func TestExecHandlerTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	execChildren(e)
	pr := e.probe()
	pr.Register("exec_probe")
	prog, err := luart.Compile(luart.Source{ID: "exec:handler", File: "h.lua", Method: "handler", Kind: luart.KindFunction, Modules: []string{"http"},
		Code: []byte(`return { handler = function()
			local probe = process.registry.lookup("exec_probe")
			local r, err = process.exec("exec:waits", "app:processes", probe)
			require("http").response():write("returned " .. tostring(r))
		end }`)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.rt.Handler(prog, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	done := make(chan int, 1)
	go func() { done <- serve(h, "GET", "/", "").Code }()
	child := childPID(t, pr.Next("child"))
	if code := <-done; code != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503 (the handler timed out)", code)
	}
	poll.Until(t, proctest.Timeout, "the exec'd child to end", func() bool { return !e.node.Alive(child) })
	if !strings.Contains(e.logs.String(), "process.exec interrupted") {
		t.Fatalf("the log does not say the exec was interrupted:\n%s", e.logs.String())
	}
}

// Processes waiting in exec hold no goroutine; all of them get their
// results.
func TestExecWaitHoldsNoGoroutine(t *testing.T) {
	t.Parallel()
	const count = 500
	e := newEnv(t, nil)
	execChildren(e)
	pr := e.countingProbe("child")
	p := e.process("exec:many", `return { main = function(probe)
		local r = process.exec("exec:waits", "app:processes", probe)
		process.send(probe, "done", r)
	end }`)
	before := runtime.NumGoroutine()
	for range count {
		e.spawn(p, pr.PID.String())
	}
	poll.Until(t, 2*proctest.Timeout, "every child started", func() bool { return pr.count("child") == count })
	poll.Until(t, 2*proctest.Timeout, "the waiting processes to give back their goroutines", func() bool {
		return runtime.NumGoroutine()-before < count/10
	})
}

func childPID(t *testing.T, m process.Message) pid.PID {
	t.Helper()
	s, _ := m.Payload.Text()
	id, err := pid.Parse(s)
	if err != nil {
		t.Fatalf("the child sent %v: %v", m.Payload, err)
	}
	return id
}

// A child that ignores the cancel its cancelled caller passes on is
// killed all the same: by its grace period, or with its caller at the
// end of the caller's.
func TestExecCancelledChildIgnoringIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	pr := e.probe()
	e.process("exec:stubborn", `return { main = function(probe)
		process.send(probe, "child", process.pid())
		local time = require("time")
		while true do time.sleep("1h") end
	end }`, "time")
	p := e.process("exec:stubborn_caller", `return { main = function(probe)
		local r, err = process.exec("exec:stubborn", "app:processes", probe)
		return err
	end }`)
	caller := e.spawnWatched(pr, p, value.String(pr.PID.String()))
	child := childPID(t, pr.Next("child"))
	if err := e.node.Cancel(pr.PID, caller, "operator"); err != nil {
		t.Fatal(err)
	}
	pr.Await(caller)
	poll.Until(t, proctest.Timeout, "the exec'd child to be killed", func() bool { return !e.node.Alive(child) })
}
