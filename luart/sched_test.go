package luart_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// countingProbe is a probe that counts the messages of each topic it gets.
type countingProbe struct {
	*proctest.Probe
	counts map[string]*atomic.Int64
}

func (e *env) countingProbe(topics ...string) *countingProbe {
	e.t.Helper()
	cp := &countingProbe{counts: map[string]*atomic.Int64{}}
	for _, tp := range topics {
		cp.counts[tp] = &atomic.Int64{}
	}
	cp.Probe = proctest.Spawn(e.t, e.node, host, func(_ *process.Process, m process.Message) {
		if c, ok := cp.counts[m.Topic]; ok {
			c.Add(1)
		}
	})
	return cp
}

// count is how many messages of topic came; 0 for a topic not counted.
func (cp *countingProbe) count(topic string) int64 {
	if n := cp.counts[topic]; n != nil {
		return n.Load()
	}
	return 0
}

// parkAll spawns count processes of p (the i-th with the probe and i%kinds
// as arguments), checks that once they all wait ("ready") they hold no
// goroutine each, then sends each "go" and waits until every one has
// answered "done" (or "wrong").
func parkAll(t *testing.T, e *env, pr *countingProbe, p *luart.Program, count, kinds int) {
	t.Helper()
	before := runtime.NumGoroutine()
	ids := make([]pid.PID, count)
	for i := range ids {
		ids[i] = e.spawn(p, pr.PID.String(), i%kinds)
	}
	poll.Until(t, 2*proctest.Timeout, "every process started", func() bool { return pr.count("ready") == int64(count) })
	poll.Until(t, 2*proctest.Timeout, "the waiting processes to give back their goroutines", func() bool {
		return runtime.NumGoroutine()-before < count/100
	})
	for _, id := range ids {
		if err := e.node.Send(pid.PID{}, id, "go", value.Nil()); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 2*proctest.Timeout, "every process woke", func() bool { return pr.count("done")+pr.count("wrong") == int64(count) })
}

// TestWaitingLuaProcessesHoldNoGoroutine: 10,000 Lua processes waiting in
// receive, in a select, in a sleep and in a nested Lua function hold no
// goroutine each; they all wake and finish when their events come.
func TestWaitingLuaProcessesHoldNoGoroutine(t *testing.T) {
	const count = 10000
	e := newEnv(t, nil)
	pr := e.countingProbe("ready", "done")
	p := e.process("sched:waiter", `
		local time = require("time")
		local function deep(n, inbox)
			if n == 0 then return inbox:receive() end
			return deep(n - 1, inbox)
		end
		function main(probe, kind)
			local inbox = process.inbox()
			process.send(probe, "ready", kind)
			local msg
			if kind == 0 then
				msg = inbox:receive()
			elseif kind == 1 then
				local r = channel.select{inbox:case_receive(), process.events():case_receive()}
				msg = r.value
			elseif kind == 2 then
				msg = deep(20, inbox)
			else
				local t = time.after("1h")
				local r = channel.select{inbox:case_receive(), t:case_receive()}
				msg = r.value
			end
			process.send(probe, "done", msg:topic())
		end`, "time")
	parkAll(t, e, pr, p, count, 4)
}

// TestWaitsUnderTheScheduler: every way Lua code waits gives the value it
// waited for, at the top of the body, in nested functions, inside pcall
// and xpcall, inside user coroutines, and in a metamethod.
func TestWaitsUnderTheScheduler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cases := map[string]string{
		"receive": `return inbox:receive():payload():data()`,
		"nested": `
			local function a() return inbox:receive():payload():data() end
			local function b() local v = a(); return v end
			return b()`,
		"pcall": `
			local ok, v = pcall(function() return inbox:receive():payload():data() end)
			assert(ok, v)
			return v`,
		"xpcall": `
			local ok, v = xpcall(function() return inbox:receive():payload():data() end, debug and debug.traceback or tostring)
			assert(ok, v)
			return v`,
		"coroutine.wrap": `
			local f = coroutine.wrap(function()
				local v = inbox:receive():payload():data()
				coroutine.yield(v)
				return "after"
			end)
			local v = f()
			assert(f() == "after")
			return v`,
		"coroutine.resume": `
			local co = coroutine.create(function() return inbox:receive():payload():data() end)
			local ok, v = coroutine.resume(co)
			assert(ok, v)
			return v`,
		"select in pcall": `
			local ok, r = pcall(channel.select, {inbox:case_receive()})
			assert(ok, r)
			return r.value:payload():data()`,
		"sleep then receive": `
			time.sleep("1ms")
			local ok = pcall(time.sleep, "1ms")
			assert(ok)
			return inbox:receive():payload():data()`,
		"metamethod": `
			local t = setmetatable({}, {__index = function(_, k) return inbox:receive():payload():data() end})
			return t.anything`,
		"sort comparator": `
			local got
			local t = {2, 1}
			table.sort(t, function(a, b)
				if not got then got = inbox:receive():payload():data() end
				return a < b
			end)
			return got`,
		"channel in coroutine": `
			local ch = channel.new(1)
			local co = coroutine.wrap(function() return ch:receive() end)
			ch:send(inbox:receive():payload():data())
			return co()`,
		"pcall of pcall": `
			local ok, ok2, v = pcall(pcall, function() return inbox:receive():payload():data() end)
			assert(ok and ok2, v)
			return v`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pr := e.probe()
			prog := e.process("sched:"+strings.ReplaceAll(name, " ", "_")+randSuffix(), `
				local time = require("time")
				function main(probe)
					local inbox = process.inbox()
					process.send(probe, "ready", true)
					local v = (function() `+body+` end)()
					return v
				end`, "time")
			id := e.spawnWatched(pr, prog, value.String(pr.PID.String()))
			pr.Next("ready")
			if err := e.node.Send(pid.PID{}, id, "value", value.String("hello")); err != nil {
				t.Fatal(err)
			}
			r := pr.Await(id)
			if r.Err != nil {
				t.Fatalf("the process failed: %v", r.Err)
			}
			if s, _ := r.Value.Text(); s != "hello" {
				t.Fatalf("it returned %v, want hello", r.Value)
			}
		})
	}
}

// TestBusyLuaProcessIsPreempted: with one worker, a script that loops for
// ever does not keep another process from running: it is preempted by
// its instruction count.
func TestBusyLuaProcessIsPreempted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &luart.Options{LuaWorkers: 1, LuaCores: -1})
	pr := e.probe()
	busy := e.process("sched:busy", `
		function main(probe)
			process.send(probe, "busy", true)
			local n = 0
			while true do n = n + 1 end
		end`)
	b1 := e.spawnWatched(pr, busy, value.String(pr.PID.String()))
	b2 := e.spawnWatched(pr, busy, value.String(pr.PID.String()))
	pr.Next("busy")
	pr.Next("busy")
	echoesPastBusy(t, e, pr, "sched:echo", b1, b2)
}

// echoesPastBusy checks that a Lua echo process spawned now (entry id)
// answers while the busy processes loop, then terminates them.
func echoesPastBusy(t *testing.T, e *env, pr *proctest.Probe, id string, busy ...pid.PID) {
	t.Helper()
	echo := e.process(id, `
		function main(probe)
			local m = process.inbox():receive()
			process.send(probe, "echo", m:payload():data())
		end`)
	p := e.spawn(echo, pr.PID.String())
	if err := e.node.Send(pid.PID{}, p, "x", value.String("through")); err != nil {
		t.Fatal(err)
	}
	if got, _ := pr.Next("echo").Payload.Text(); got != "through" {
		t.Errorf("echo %q", got)
	}
	for _, b := range busy {
		if err := e.node.Terminate(b); err != nil {
			t.Fatal(err)
		}
		if r := pr.Await(b); !errors.Is(r.Err, process.ErrTerminated) {
			t.Errorf("busy process ended with %v, want terminated", r.Err)
		}
	}
}

// TestParkedLuaProcessKilled: a process terminated while it waits (in a
// receive, a sleep, a ticker, or a wait inside pcall, xpcall, a
// coroutine, or a pcall inside a coroutine) ends at once with
// "terminated": its timers stop, no pcall catches the end, no handler
// runs, and nothing of it is left running.
func TestParkedLuaProcessKilled(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, wait := range []string{
		`process.inbox():receive()`,
		`time.sleep("1h")`,
		`pcall(function() process.inbox():receive() end)`,
		`local tk = time.ticker("1ms"); for i = 1, 1e9 do tk:channel():receive() end`,
		`xpcall(function() process.inbox():receive() end, function(e) process.send(probe, "handler", tostring(e)) end)`,
		`coroutine.wrap(function() time.sleep("1h") end)()`,
		`coroutine.wrap(function() pcall(function() channel.select{process.inbox():case_receive()} end) end)()`,
	} {
		pr := e.probe()
		p := e.process("sched:killed"+randSuffix(), `
			local time = require("time")
			function main(p)
				probe = p
				process.send(probe, "waiting", true)
				`+wait+`
				process.send(probe, "woke", true)
			end`, "time")
		id := e.spawnWatched(pr, p, value.String(pr.PID.String()))
		pr.Next("waiting")
		if err := e.node.Terminate(id); err != nil {
			t.Fatal(err)
		}
		if r := pr.Await(id); !errors.Is(r.Err, process.ErrTerminated) {
			t.Errorf("%s: ended with %v, want terminated", wait, r.Err)
		}
		select {
		case m := <-pr.Msgs:
			t.Errorf("%s: the killed process sent %s", wait, m.Topic)
		default:
		}
	}
}

// TestTimersWakeParkedProcesses: sleeps, time.after, timers and tickers
// wake a process that holds no goroutine while it waits for them.
func TestTimersWakeParkedProcesses(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.run(`
		local time = require("time")
		function main()
			time.sleep("2ms")
			local a = time.after("2ms"):receive()
			local tm = time.timer("2ms")
			local b = tm:channel():receive()
			local tk = time.ticker("1ms")
			for i = 1, 3 do tk:channel():receive() end
			tk:stop()
			local r = channel.select{time.after("1ms"):case_receive(), process.inbox():case_receive()}
			return (a ~= nil and b ~= nil and r.ok) and "woke" or "missing"
		end`, "time")
	if s, _ := ok(t, r).Text(); s != "woke" {
		t.Errorf("got %v", r.Value)
	}
}

// TestProcessBodyIsNotACoroutine: the coroutine the scheduler runs the
// body in is invisible: yield at the top fails as in a main thread, and
// coroutine.running is nil there.
func TestProcessBodyIsNotACoroutine(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.run(`
		function main()
			assert(coroutine.running() == nil, "running")
			local ok, err = pcall(coroutine.yield, 1)
			assert(not ok and tostring(err):find("outside of a coroutine"), tostring(err))
			local co = coroutine.create(function() return coroutine.running() ~= nil end)
			local _, inside = coroutine.resume(co)
			assert(inside, "inside")
			coroutine.yield(1)
		end`)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "can not yield from outside of a coroutine") {
		t.Errorf("got %v, want the yield error", r.Err)
	}
	var le *luart.Error
	if !errorsAs(r.Err, &le) || !strings.Contains(le.Traceback, "stack traceback:") {
		t.Errorf("no traceback in %#v", r.Err)
	}
}

// blockingNames is a ClusterNames whose Register waits until released:
// Go code that blocks a worker without saying so.
type blockingNames struct{ release chan struct{} }

func (b *blockingNames) Register(ctx context.Context, name string, p pid.PID) error {
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil
}
func (b *blockingNames) UnregisterBy(context.Context, pid.PID, string) error { return nil }
func (b *blockingNames) LookupName(string) (pid.PID, bool)                   { return pid.PID{}, false }

// TestStalledWorkerIsReplaced: with one worker, a process blocked in a Go
// call that waits on something else (here a cluster name registration)
// does not keep the other processes from running.
func TestStalledWorkerIsReplaced(t *testing.T) {
	t.Parallel()
	names := &blockingNames{release: make(chan struct{})}
	e := newEnv(t, &luart.Options{LuaWorkers: 1, ClusterNames: names})
	pr := e.probe()
	stuck := e.process("sched:stuck", `
		function main(probe)
			process.send(probe, "registering", true)
			process.registry.register("stuck", nil, process.registry.CONSISTENT)
			process.send(probe, "registered", true)
		end`)
	echo := e.process("sched:echo2", `
		function main(probe)
			local m = process.inbox():receive()
			process.send(probe, "echo", m:payload():data())
		end`)
	e.spawn(stuck, pr.PID.String())
	pr.Next("registering")
	id := e.spawn(echo, pr.PID.String())
	if err := e.node.Send(pid.PID{}, id, "x", value.String("around")); err != nil {
		t.Fatal(err)
	}
	if got, _ := pr.Next("echo").Payload.Text(); got != "around" {
		t.Errorf("echo %q", got)
	}
	close(names.release)
	pr.Next("registered")
}

// TestUsage: a Lua process's use of its budget is seen from outside while
// it waits: its memory as the budget counts it, the budget, and the steps
// it ran; nothing once it has ended.
func TestUsage(t *testing.T) {
	e := newEnv(t, nil)
	pr := e.countingProbe("ready")
	p := e.process("sched:usage", `
		function main(probe)
			local keep = {}
			for i = 1, 200000 do
				if i % 20 == 0 then keep[#keep + 1] = "item " .. i end
			end
			process.send(probe, "ready", #keep)
			process.inbox():receive()
		end`)
	id := e.spawn(p, pr.PID.String())
	poll.Until(t, timeout, "the process ready", func() bool { return pr.count("ready") == 1 })
	var u luart.Usage
	poll.Until(t, timeout, "its usage published", func() bool {
		var ok bool
		u, ok = e.rt.Usage(id)
		return ok && u.Steps >= 200000
	})
	if u.Memory < 100<<10 || u.MemoryLimit != luart.DefaultProcessMemory {
		t.Fatalf("usage %+v: want over 100 KiB of a %d budget", u, luart.DefaultProcessMemory)
	}
	e.node.Terminate(id)
	poll.Until(t, timeout, "no usage once ended", func() bool {
		_, ok := e.rt.Usage(id)
		return !ok
	})
}

// TestWaitsInsideProtectedCallsHoldNoGoroutine: Lua processes waiting
// inside pcall, xpcall, a coroutine.wrap, a coroutine.resume, a pcall
// inside a coroutine and 60 nested pcalls, hold no goroutine each;
// woken, each goes on inside what it waited in: an error raised after
// the wait is caught by the pcall it was raised in, and the coroutine
// goes on where it stopped.
func TestWaitsInsideProtectedCallsHoldNoGoroutine(t *testing.T) {
	const count = 3000
	e := newEnv(t, nil)
	pr := e.countingProbe("ready", "done", "wrong")
	p := e.process("sched:protected", `
		local function recv(inbox) return inbox:receive():topic() end
		function main(probe, kind)
			local inbox = process.inbox()
			process.send(probe, "ready", kind)
			local got
			if kind == 0 then
				local ok, err = pcall(function() local v = recv(inbox); error("after " .. v, 0) end)
				got = (not ok) and err
			elseif kind == 1 then
				local ok, err = xpcall(function() local v = recv(inbox); error({v = v}) end, function(e) return "handled " .. e.v end)
				got = (not ok) and err
			elseif kind == 2 then
				local f = coroutine.wrap(function() local v = recv(inbox); coroutine.yield(v); return "end" end)
				local v = f()
				got = f() == "end" and v
			elseif kind == 3 then
				local co = coroutine.create(function() local r = channel.select{inbox:case_receive()}; return r.value:topic() end)
				local ok, v = coroutine.resume(co)
				got = ok and coroutine.status(co) == "dead" and v
			elseif kind == 4 then
				local f = coroutine.wrap(function()
					local ok, ok2, err = pcall(pcall, function() local v = recv(inbox); error("nested " .. v, 0) end)
					return ok and not ok2 and err
				end)
				got = f()
			else
				local function deep(n)
					if n == 0 then local v = recv(inbox); error("deep " .. v, 0) end
					local ok, err = pcall(deep, n - 1)
					if n == 1 then return "caught " .. err end
					return err
				end
				got = deep(60)
			end
			local want = ({"after go", "handled go", "go", "go", "nested go", "caught deep go"})[kind + 1]
			process.send(probe, got == want and "done" or "wrong", tostring(got))
		end`)
	parkAll(t, e, pr, p, count, 6)
	if n := pr.count("wrong"); n != 0 {
		t.Errorf("%d processes got the wrong value after their wait", n)
	}
}

// TestBusyLoopInsidePcallAndCoroutineIsPreempted: with one worker and no
// CPU slots, loops that never end inside pcall and inside a coroutine are
// preempted (their steps end) and do not keep another process from
// running.
func TestBusyLoopInsidePcallAndCoroutineIsPreempted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &luart.Options{LuaWorkers: 1, LuaCores: -1})
	pr := e.probe()
	busy := e.process("sched:busy_protected", `
		function main(probe, kind)
			process.send(probe, "busy", true)
			local function spin() local n = 0; while true do n = n + 1 end end
			if kind == 0 then
				pcall(spin)
			else
				coroutine.wrap(function() pcall(spin) end)()
			end
		end`)
	b1 := e.spawnWatched(pr, busy, value.String(pr.PID.String()), value.Int(0))
	b2 := e.spawnWatched(pr, busy, value.String(pr.PID.String()), value.Int(1))
	pr.Next("busy")
	pr.Next("busy")
	// A step's counts are published when it ends: a loop that is never
	// preempted never publishes its steps.
	for _, b := range []pid.PID{b1, b2} {
		poll.Until(t, timeout, "the busy loop preempted", func() bool {
			u, _ := e.rt.Usage(b)
			return u.Steps > 0
		})
	}
	echoesPastBusy(t, e, pr, "sched:echo_protected", b1, b2)
}

// TestSpawnedCoroutineWaitingInsidePcallParks: a spawned coroutine
// waiting inside pcall, while its function waits on a channel, leaves
// the process holding no goroutine; woken, it goes on inside the pcall.
func TestSpawnedCoroutineWaitingInsidePcallParks(t *testing.T) {
	const count = 1000
	e := newEnv(t, nil)
	pr := e.countingProbe("ready", "done")
	p := e.process("sched:spawned_pcall", `
		function main(probe)
			local ch = channel.new(1)
			coroutine.spawn(function()
				local ok, err = pcall(function()
					local m = process.inbox():receive()
					error("after " .. m:topic(), 0)
				end)
				ch:send((not ok) and err)
			end)
			process.send(probe, "ready", true)
			local v = ch:receive()
			if v == "after go" then process.send(probe, "done", v) end
		end`)
	before := runtime.NumGoroutine()
	ids := make([]pid.PID, count)
	for i := range ids {
		ids[i] = e.spawn(p, pr.PID.String())
	}
	poll.Until(t, 2*proctest.Timeout, "every process started", func() bool { return pr.count("ready") == count })
	poll.Until(t, 2*proctest.Timeout, "the waiting processes to give back their goroutines", func() bool {
		return runtime.NumGoroutine()-before < count/50
	})
	for _, id := range ids {
		if err := e.node.Send(pid.PID{}, id, "go", value.Nil()); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, 2*proctest.Timeout, "every process woke", func() bool { return pr.count("done") == count })
}
