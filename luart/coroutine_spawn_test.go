package luart_test

import (
	"runtime"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// coroutine.spawn: the original runtime's patterns (its channels
// tutorial) give the results it documents.
func TestCoroutineSpawnPatterns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	cases := map[string]struct{ code, want string }{
		// The spawning code goes on at once; the coroutine runs when it waits.
		"order": {`
			local log = {}
			local done = channel.new(1)
			coroutine.spawn(function(a, b)
				log[#log + 1] = "spawned " .. a .. b
				done:send(true)
			end, "x", "y")
			log[#log + 1] = "body"
			done:receive()
			return table.concat(log, ",")`, "body,spawned xy"},
		"unbuffered": {`
			local ch = channel.new(0)
			local done = channel.new(1)
			coroutine.spawn(function()
				ch:send("from spawn")
				done:send(true)
			end)
			local v = ch:receive()
			assert(done:receive())
			return v`, "from spawn"},
		"send waits for room": {`
			local ch, done = channel.new(1), channel.new(1)
			local got = {}
			coroutine.spawn(function()
				for i = 1, 5 do got[#got + 1] = ch:receive() end
				done:send(true)
			end)
			for i = 1, 5 do assert(ch:send(i)) end
			done:receive()
			return table.concat(got, ",")`, "1,2,3,4,5"},
		// A metamethod's wait holds the thread: the other coroutines could
		// not run, so the send does not wait.
		"send in a metamethod does not wait": {`
			local ch = channel.new(1)
			coroutine.spawn(function() end)
			ch:send(1)
			local t = setmetatable({}, {__index = function()
				local sent, err = ch:send(2)
				return tostring(sent) .. " " .. err
			end})
			local r = t.x
			return r`, "false channel full (size 1)"},
		"send to a closed channel": {`
			local ch = channel.new(1)
			coroutine.spawn(function() ch:close() end)
			ch:send(1)
			local ok, err = ch:send(2) -- waits for room; the close ends the wait
			return tostring(ok) .. " " .. err`, "false channel closed"},
		// A wait as the function's tail call returns what it waited for.
		"tail-called wait": {`
			local ch = channel.new(1)
			coroutine.spawn(function() ch:send("sent") end)
			return ch:receive()`, "sent"},
		"ping-pong": {`
			local ping, pong, finished = channel.new(0), channel.new(0), channel.new(1)
			local rounds = 0
			coroutine.spawn(function()
				for i = 1, 5 do ping:receive() pong:send("pong") rounds = rounds + 1 end
				finished:send(true)
			end)
			for i = 1, 5 do ping:send("ping") pong:receive() end
			finished:receive()
			return tostring(rounds)`, "5"},
		"fan-out": {`
			local work, results = channel.new(10), channel.new(10)
			for w = 1, 3 do
				coroutine.spawn(function()
					while true do
						local job, ok = work:receive()
						if not ok then break end
						results:send(job * 2)
					end
				end)
			end
			for i = 1, 6 do work:send(i) end
			work:close()
			local sum = 0
			for i = 1, 6 do sum = sum + results:receive() end
			return tostring(sum)`, "42"},
		"fan-in": {`
			local out = channel.new(10)
			for p = 1, 4 do
				coroutine.spawn(function()
					for i = 1, 5 do out:send(p) end
				end)
			end
			local counts = {0, 0, 0, 0}
			for i = 1, 20 do local p = out:receive() counts[p] = counts[p] + 1 end
			return table.concat(counts, ",")`, "5,5,5,5"},
		"spawned spawns": {`
			local ch = channel.new(1)
			coroutine.spawn(function()
				coroutine.spawn(function() ch:send("grandchild") end)
			end)
			local v = ch:receive()
			return v`, "grandchild"},
		"sleeps": {`
			local time = require("time")
			local ch = channel.new(3)
			for i = 3, 1, -1 do
				coroutine.spawn(function() time.sleep(i * 20 * time.MILLISECOND) ch:send(i) end)
			end
			-- The order they wake in is the timers' unless the machine is
			-- slow to start them: sorted, the result is the same either way.
			local got = {}
			for i = 1, 3 do got[i] = (ch:receive()) end
			table.sort(got)
			return table.concat(got)`, "123"},
		"running and yield": {`
			local ch = channel.new(1)
			coroutine.spawn(function()
				local ok, err = pcall(coroutine.yield)
				ch:send(tostring(coroutine.running()) .. " " .. tostring(ok) .. " " .. tostring(err):gsub("^.-:%d+: ", ""))
			end)
			local v = ch:receive()
			return v`, "nil false can not yield from outside of a coroutine"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := e.run(`return { main = function() `+c.code+` end }`, "time")
			if got := ok(t, r); !isText(got, c.want) {
				t.Fatalf("got %v, want %q", got, c.want)
			}
		})
	}
}

// A spawned coroutine receives from the inbox while the body waits on a
// channel, and the body receives while a spawned coroutine sleeps and
// reports: both wait at once, and each wakes for its own event.
func TestCoroutineSpawnWithInbox(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	pr := e.probe()
	p := e.process("cospawn:inbox", `return { main = function(probe)
		local time = require("time")
		local inbox = process.inbox()
		local got = channel.new(10)
		coroutine.spawn(function()
			for i = 1, 3 do
				got:send(inbox:receive():payload():data())
			end
		end)
		coroutine.spawn(function()
			while true do
				time.sleep(5 * time.MILLISECOND)
				process.send(probe, "tick", true)
			end
		end)
		process.send(probe, "ready", true)
		local all = {}
		for i = 1, 3 do all[i] = got:receive() end
		return table.concat(all, ",")
	end }`, "time")
	id := e.spawnWatched(pr, p, value.String(pr.PID.String()))
	pr.Next("ready")
	pr.Next("tick") // the sleeper runs while both others wait
	for _, w := range []string{"a", "b", "c"} {
		if err := e.node.Send(pr.PID, id, "m", value.String(w)); err != nil {
			t.Fatal(err)
		}
	}
	if got := ok(t, pr.Await(id)); !isText(got, "a,b,c") {
		t.Fatalf("the body returned %v, want a,b,c", got)
	}
}

// An error a spawned coroutine does not catch ends its process with it,
// whatever the body waits for; one it catches does not.
func TestCoroutineSpawnError(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.run(`return { main = function()
		coroutine.spawn(function()
			local ok = pcall(error, "caught")
			assert(not ok)
			error("boom in spawned")
		end)
		process.inbox():receive() -- never comes
		return "body returned"
	end }`)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "a coroutine it spawned failed") || !strings.Contains(r.Err.Error(), "boom in spawned") {
		t.Fatalf("the process ended with %v, %v; want the spawned coroutine's error", r.Value, r.Err)
	}
	var le *luart.Error
	if !errorsAs(r.Err, &le) || !strings.Contains(le.Traceback, "in function") {
		t.Fatalf("the error %#v has no traceback", r.Err)
	}
	// Not a function: an error in the spawning code, which pcall catches.
	if got := ok(t, e.run(`return { main = function()
		local ok, err = pcall(coroutine.spawn, 42)
		return err
	end }`)); !strings.Contains(got.String(), "coroutine.spawn: argument #1 (function) must be a function, got number") {
		t.Fatalf("coroutine.spawn(42) gave %v", got)
	}
}

// A process may have maxSpawned (1000) coroutines at once: one more is a
// clear error; once some return, it may spawn again.
func TestCoroutineSpawnLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	got := ok(t, e.run(`return { main = function()
		local gate = channel.new(0)
		local n = 0
		local ok, err
		while true do
			ok, err = pcall(coroutine.spawn, function() gate:receive() end)
			if not ok then break end
			n = n + 1
		end
		gate:close() -- they all return
		local again = channel.new(1)
		local time = require("time")
		local ok2, err2
		for i = 1, 100 do
			time.sleep(time.MILLISECOND)
			ok2, err2 = pcall(coroutine.spawn, function() again:send("again") end)
			if ok2 then break end
		end
		return n .. " | " .. err .. " | " .. tostring(ok2) .. " " .. again:receive()
	end }`, "time"))
	s, _ := got.Text()
	if !strings.HasPrefix(s, "1000 | ") || !strings.Contains(s, "coroutine.spawn: this process already has 1000 spawned coroutines, the most it may have") || !strings.HasSuffix(s, "true again") {
		t.Fatalf("got %q", s)
	}
}

// When the body returns, the process ends with its result at once; its
// spawned coroutines, waiting on the inbox, a sleep, a channel or busy,
// end with it and hold nothing afterwards.
func TestCoroutineSpawnPendingAtEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	before := runtime.NumGoroutine()
	pr := e.probe()
	p := e.process("cospawn:pending", `return { main = function(probe)
		local time = require("time")
		local ch = channel.new(0)
		for i = 1, 50 do
			coroutine.spawn(function()
				local k = i % 4
				if k == 0 then process.inbox():receive()
				elseif k == 1 then time.sleep("1h")
				elseif k == 2 then ch:receive()
				else while true do end end
			end)
		end
		time.sleep(time.MILLISECOND)
		return "body result"
	end }`, "time")
	ids := make([]pid.PID, 20)
	for i := range ids {
		ids[i] = e.spawnWatched(pr, p, value.String(pr.PID.String()))
	}
	for range ids { // in any order
		ev := pr.Event()
		if ev.Kind != process.EventExit || !isText(ok(t, ev.Result), "body result") {
			t.Fatalf("the probe got %+v, want an EXIT with the body's result", ev)
		}
	}
	for _, id := range ids {
		if e.node.Alive(id) {
			t.Fatalf("%v is alive after its body returned", id)
		}
	}
	poll.Until(t, proctest.Timeout, "the goroutines to go back to what they were", func() bool {
		return runtime.NumGoroutine() <= before+2 // the probe
	})
}

// Spawned coroutines and the body take turns on the CPU: a busy spawned
// coroutine does not keep the body from its inbox, and a busy body does
// not keep a spawned coroutine from its own.
func TestCoroutineSpawnBusyTakesTurns(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	pr := e.probe()
	p := e.process("cospawn:busy", `return { main = function(probe)
		local flag = false
		coroutine.spawn(function() while true do end end) -- never waits
		coroutine.spawn(function()
			process.inbox():receive()
			flag = true
		end)
		process.send(probe, "ready", true)
		while not flag do end -- busy until the spawned one got its message
		return "turns"
	end }`)
	id := e.spawnWatched(pr, p, value.String(pr.PID.String()))
	pr.Next("ready")
	if err := e.node.Send(pr.PID, id, "go", value.Nil()); err != nil {
		t.Fatal(err)
	}
	if got := ok(t, pr.Await(id)); !isText(got, "turns") {
		t.Fatalf("got %v", got)
	}
}

// Spawned coroutines count against their process's memory budget.
func TestCoroutineSpawnMemoryBudget(t *testing.T) {
	t.Parallel()
	e := newEnv(t, &luart.Options{ProcessMemory: 8 << 20})
	memoryError(t, e.run(`return { main = function()
		local keep = {}
		for w = 1, 4 do
			coroutine.spawn(function()
				local t = {}
				keep[w] = t
				for i = 1, 1e9 do t[i] = ("x"):rep(64) .. i end
			end)
		end
		process.inbox():receive()
	end }`))
}

// coroutine.spawn needs a process: a handler gets an error naming why.
func TestCoroutineSpawnInHandler(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	h := e.function("cospawn:handler", `return { handler = function()
		local ok, err = pcall(coroutine.spawn, function() end)
		local res = require("http").response()
		res:write(tostring(err))
	end }`, "http")
	w := serve(h, "GET", "/", "")
	if !strings.Contains(w.Body.String(), "coroutine.spawn: only a process runs spawned coroutines") {
		t.Fatalf("the handler wrote %q", w.Body.String())
	}
}

// A spawned coroutine that terminates its own process stops it: neither
// the other coroutines nor the body run afterwards (they would spawn).
func TestCoroutineSpawnTerminatesItsProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	pr := e.probe()
	e.process("cospawn:noop", `return { main = function() end }`)
	p := e.process("cospawn:terminate", `return { main = function(probe)
		coroutine.spawn(function()
			process.terminate(process.pid())
		end)
		for i = 1, 5 do
			coroutine.spawn(function() process.spawn("cospawn:noop", "app:processes") end)
		end
		local time = require("time")
		time.sleep(time.MILLISECOND)
		process.spawn("cospawn:noop", "app:processes")
	end }`, "time")
	h, _ := e.node.Host(host)
	before := h.Stats().Spawned
	id := e.spawnWatched(pr, p, value.String(pr.PID.String()))
	if r := pr.Await(id); r.Err == nil || !strings.Contains(r.Err.Error(), "terminated") {
		t.Fatalf("the process ended with %v, want terminated", r)
	}
	// Its steps are over once its EXIT is out: what it spawned is counted.
	if n := h.Stats().Spawned - before; n != 1 {
		t.Fatalf("%d processes spawned, want 1 (the process alone): its code went on after it was terminated", n)
	}
}

// A coroutine spawned at the top level of the file runs once the
// process's function waits.
func TestCoroutineSpawnFromTheChunk(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	got := ok(t, e.run(`local ch = channel.new(1)
coroutine.spawn(function() ch:send("from the chunk") end)
return { main = function()
	local v = ch:receive()
	return v
end }`))
	if !isText(got, "from the chunk") {
		t.Fatalf("got %v", got)
	}
}
