package luart_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// memoryError fails the test unless r is the end of a process by its
// memory budget.
func memoryError(t *testing.T, r process.Result) {
	t.Helper()
	if r.Err == nil {
		t.Fatalf("the process ended normally (%v); want the memory limit error", r.Value)
	}
	if !strings.Contains(r.Err.Error(), "memory limit exceeded") || !errors.Is(r.Err, luart.ErrMemoryLimit) {
		t.Fatalf("the process failed with %v; want the memory limit error (luart.ErrMemoryLimit)", r.Err)
	}
}

// Every way the probe made a process allocate gigabytes now ends
// that process with "memory limit exceeded", and the runtime goes on
// running other processes. The one-shot bombs run at the default budget
// (64 MiB); the loops at 16 MiB, which only makes them end sooner.
func TestMemoryLimitProcess(t *testing.T) {
	oneShot := map[string]string{
		"string.rep 1e11": `return string.rep("x", 100000000000)`,
		"string.rep 1e9":  `return #string.rep("x", 1000000000)`,
		"s:rep":           `return #(("ab"):rep(600000000))`,
		"concat operator": `local s = "x" for i = 1, 40 do s = s .. s end return #s`,
		"sparse array":    `local t = {} t[60000000] = 1 return #t`,
		"rawset sparse":   `local t = {} rawset(t, 60000000, 1) return #t`,
		"string.format":   `local s = ("x"):rep(1e7) return #string.format("%s%s%s%s%s%s%s%s", s, s, s, s, s, s, s, s)`,
		"format %q":       `local s = ("\0"):rep(1e7) return #string.format("%q%q", s, s)`,
		"upper":           `local s = string.rep("\255", 30000000) return #s:upper()`,
		"os.date":         `return #os.date(("%c"):rep(4000000))`,
		"json.encode":     `local json = require("json") local s = string.rep("x", 25000000) return #json.encode({s, s})`,
	}
	loops := map[string]string{
		"table.concat": `local t = {} for i = 1, 100000 do t[i] = string.rep("y", 1000) end
			return #table.concat(t, ",")`,
		"table growth":  `local t = {} for i = 1, 1e9 do t[i] = i end return #t`,
		"hash growth":   `local t = {} for i = 1, 1e9 do t["k" .. i] = true end return 0`,
		"table.insert":  `local t = {} for i = 1, 1e9 do table.insert(t, i) end return #t`,
		"coroutines":    `local t = {} for i = 1, 1e7 do t[i] = coroutine.create(function() end) end return #t`,
		"closures":      `local t = {} for i = 1, 1e9 do t[i] = function() return i end end return #t`,
		"tables":        `local t = {} for i = 1, 1e9 do t[i] = {i} end return #t`,
		"gsub":          `local s = string.rep("a", 1000000) return #s:gsub("a", string.rep("b", 1000))`,
		"gsub repeated": `local s = string.rep("a", 1000) for i = 1, 30 do s = s:gsub("a", "aa") end return #s`,
		"channel queue": `local ch = channel.new(100000000) for i = 1, 1e9 do ch:send({i}) end return 0`,
		"json":          `local json = require("json") local text = "[" .. ('"' .. ("j"):rep(1000) .. '",'):rep(9) .. '"j"]' local t = {} for i = 1, 1e9 do t[i] = json.decode(text) end return 0`,
	}
	for _, c := range []struct {
		budget int64
		bombs  map[string]string
	}{{0, oneShot}, {16 << 20, loops}} {
		e := newEnv(t, &luart.Options{ProcessMemory: c.budget})
		for name, code := range c.bombs {
			t.Run(name, func(t *testing.T) {
				pr := proctest.Spawn(t, e.node, host, nil)
				r := e.runWith(pr, "local function main() "+code+" end return {main = main}", "json")
				memoryError(t, r)
				// The runtime is unharmed: another process runs.
				if v := ok(t, e.runWith(pr, `return {main = function() return "alive" end}`)); !isText(v, "alive") {
					t.Fatalf("a process after the bomb returned %v", v)
				}
			})
		}
	}
}

// A process that keeps a catch-all pcall around its allocations cannot
// hold more than its budget: every allocation past it fails again.
func TestMemoryLimitCaught(t *testing.T) {
	e := newEnv(t, &luart.Options{ProcessMemory: 8 << 20})
	r := e.run(`return {main = function()
		local t, failures = {}, 0
		for i = 1, 200 do
			local ok = pcall(function() t[#t + 1] = string.rep("z", 1000000) .. i end)
			if not ok then failures = failures + 1 end
		end
		return {kept = #t, failures = failures}
	end}`)
	v := ok(t, r)
	kept, _ := v.Get("kept")
	failures, _ := v.Get("failures")
	// 1 MB strings in an 8 MiB budget, with the walk a quarter late at most.
	if n, _ := kept.Int(); n < 1 || n > 11 {
		t.Errorf("kept %d strings of 1 MB within an 8 MiB budget", n)
	}
	if n, _ := failures.Int(); n < 180 {
		t.Errorf("only %d of 200 allocations failed", n)
	}
}

// A long-lived process that allocates and drops far more than its budget
// is not stopped: only live data counts.
func TestMemoryLimitGarbageIsFree(t *testing.T) {
	e := newEnv(t, &luart.Options{ProcessMemory: 4 << 20})
	r := e.run(`return {main = function()
		local total = 0
		for i = 1, 300 do
			local t = {}
			for j = 1, 1000 do t[j] = {j} end
			local s = string.rep("x", 100000) .. i
			total = total + #t + #s
		end
		local co = {}
		for i = 1, 20000 do co[i % 100 + 1] = coroutine.create(function() end) end
		return total
	end}`)
	if v, _ := ok(t, r).Int(); v != 300*1000+300*100000+(9*1+90*2+201*3) {
		t.Fatalf("total %d", v)
	}
}

// The entry's own memory limit wins over the runtime's default.
func TestMemoryLimitPerEntry(t *testing.T) {
	e := newEnv(t, nil)
	code := `return {main = function() return #string.rep("x", 3000000) end}`
	p, err := luart.Compile(luart.Source{ID: "test:small", File: "small.lua", Code: []byte(code), Method: "main", Kind: luart.KindProcess, MaxMemory: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Add(p); err != nil {
		t.Fatal(err)
	}
	pr := e.probe()
	memoryError(t, pr.Await(e.spawnWatched(pr, p)))
	if v, _ := ok(t, e.runWith(pr, code)).Int(); v != 3000000 {
		t.Fatalf("with the default budget: %d", v)
	}
}

// A handler that allocates past its budget answers 500; the next request
// on the same handler is served.
func TestMemoryLimitHandler(t *testing.T) {
	e := newEnv(t, nil)
	h := e.function("test:h", `local http = require("http")
	return {handler = function()
		local req, res = http.request(), http.response()
		local n = tonumber(req:query("n"))
		res:write(tostring(#string.rep("x", n)))
	end}`, "http")
	for _, n := range []string{"100000000000", "1000000000", "40000000"} {
		if w := serve(h, "GET", "/?n="+n, ""); w.Code != http.StatusInternalServerError {
			t.Fatalf("n=%s: status %d, body %q; want 500", n, w.Code, w.Body.String())
		}
		if w := serve(h, "GET", "/?n=1000", ""); w.Code != http.StatusOK || w.Body.String() != "1000" {
			t.Fatalf("the request after n=%s: %d %q", n, w.Code, w.Body.String())
		}
	}
	if !strings.Contains(e.logs.String(), "memory limit exceeded") {
		t.Errorf("the log does not say why the handler failed:\n%s", e.logs.String())
	}
}

const catastrophic = `("a"):rep(18):find(("a*"):rep(18) .. "b")`

// The pattern matcher stops at the handler's timeout instead of running
// for hours after the client left.
func TestPatternStopsAtTimeout(t *testing.T) {
	e := newEnv(t, nil)
	p, err := luart.Compile(luart.Source{ID: "test:pat", File: "pat.lua", Method: "handler", Kind: luart.KindFunction,
		Code: []byte(`local http = require("http") return {handler = function() local a, b = ` + catastrophic + ` http.response():write(tostring(a)) end}`), Modules: []string{"http"}})
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.rt.Handler(p, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	for _, fn := range []string{"find", "match", "gmatch", "gsub"} {
		t.Run(fn, func(t *testing.T) {
			code := strings.Replace(catastrophic, "find", fn, 1)
			if fn == "gsub" {
				code = strings.Replace(code, `.. "b")`, `.. "b", "")`, 1)
			}
			if fn == "gmatch" {
				code = "(" + code + ")()"
			}
			p, err := luart.Compile(luart.Source{ID: "test:pat_" + fn, File: "pat.lua", Method: "handler", Kind: luart.KindFunction,
				Code: []byte(`local http = require("http") return {handler = function() local a = ` + code + ` http.response():write(tostring(a)) end}`), Modules: []string{"http"}})
			if err != nil {
				t.Fatal(err)
			}
			h, err := e.rt.Handler(p, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			done := make(chan int, 1)
			go func() { done <- serve(h, "GET", "/", "").Code }()
			select {
			case code := <-done:
				if code != http.StatusServiceUnavailable {
					t.Fatalf("status %d; want 503", code)
				}
			case <-time.After(timeout):
				t.Fatalf("string.%s still running %v after a timeout of 200ms", fn, timeout)
			}
		})
	}
}

// process.terminate stops a process inside the pattern matcher: its
// goroutine ends (no CPU burnt after terminate).
func TestPatternStopsAtTerminate(t *testing.T) {
	e := newEnv(t, nil)
	pr := e.probe()
	before := leakcheck.Snapshot()
	p := e.process("test:spin", `return {main = function() return `+catastrophic+` end}`)
	id := e.spawnWatched(pr, p)
	// Let it get into the matcher, then terminate it.
	poll.Until(t, timeout, "the process to start", func() bool { return e.node.Stats().Processes >= 2 })
	if err := e.node.Terminate(id); err != nil {
		t.Fatal(err)
	}
	if r := pr.Await(id); r.Err == nil {
		t.Fatalf("the process ended normally: %v", r.Value)
	}
	poll.Until(t, timeout, "the process goroutine to end", func() bool { return leakcheck.Count(before) == 0 })
}

// process.cancel (terminate after the grace period) stops a sort with a
// comparator and a gsub with a function as well, and a pcall that catches
// everything cannot keep a stopped process running.
func TestLongBuiltinsStopAtCancel(t *testing.T) {
	e := newEnv(t, nil)
	pr := e.probe()
	loops := map[string]string{
		"sort":             `local t = {} for i = 1, 200000 do t[i] = (i * 7919) % 200000 end while true do table.sort(t, function(a, b) return a > b end) table.sort(t) end`,
		"gsub func":        `local s = string.rep("ab", 400000) while true do s:gsub("a", function(x) return x end) end`,
		"catch-all pcall":  `while true do pcall(function() while true do end end) end`,
		"catch-all xpcall": `while true do xpcall(function() local s = ("a"):rep(18) s:find(("a*"):rep(18) .. "b") end, function(e) return e end) end`,
		"coroutines":       `while true do coroutine.resume(coroutine.create(function() while true do end end)) end`,
	}
	for name, code := range loops {
		t.Run(name, func(t *testing.T) {
			before := leakcheck.Snapshot()
			p := e.process("test:loop"+randSuffix(), `return {main = function() `+code+` end}`)
			id := e.spawnWatched(pr, p)
			if err := e.node.Cancel(pr.PID, id, "test"); err != nil {
				t.Fatal(err)
			}
			if r := pr.Await(id); r.Err == nil {
				t.Fatalf("the process ended normally: %v", r.Value)
			}
			poll.Until(t, timeout, "the process goroutine to end", func() bool { return leakcheck.Count(before) == 0 })
		})
	}
}

// What one call of a pooled handler writes, by any route, is never seen
// by the next call on the same state, and the library tables stay intact
// for every state.
func TestHandlerIsolationRoutes(t *testing.T) {
	e := newEnv(t, nil)
	h := e.function("test:iso", `local http = require("http")
	return {handler = function()
		local req, res = http.request(), http.response()
		if req:query("step") == "write" then
			local tostring, pcall, ipairs = tostring, pcall, ipairs
			local routes = {
				function() getmetatable(_G).__index.X = req:header("Authorization") end,
				function() getmetatable(_G).__index.tostring = function() return "pwned" end end,
				function() rawset(getmetatable(_G).__index, "X", "leak") end,
				function() setmetatable(_G, nil) end,
				function() rawset(string, "X", "leak") end,
				function() string.X = "leak" end,
				function() table.insert(string, "leak") end,
				function() table.insert(table, 1, "leak") end,
				function() table.sort(math) end,
				function() table.remove(string) end,
				function() setmetatable(string, nil) end,
				function() setmetatable(string, {__index = function() return "leak" end}) end,
				function() getmetatable("").__index.X = "leak" end,
				function() getmetatable("").X = "leak" end,
				function() setmetatable(getmetatable(""), nil) end,
				function() rawset(getmetatable(""), "__index", {}) end,
				function() rawset(require("json"), "encode", "leak") end,
				function() require("json").X = "leak" end,
				function() table.insert(require("json"), "leak") end,
				function() getmetatable(req).__index.X = "leak" end,
				function() rawset(getmetatable(req), "X", "leak") end,
				function() debug.setmetatable(_G, nil) end,
				function() package.loaded.json = {} end,
				function() rawset(_G, "X", "leak") end,
				function() X = "leak" end,
				function() tostring = function() return "pwned" end end,
				function() print = nil end,
				function() _G.string = {} end,
				function() coroutine.wrap(function() Y = "leak" end)() end,
			}
			local passed = 0
			for i, f in ipairs(routes) do
				if pcall(f) then passed = passed + 1 end
			end
			res:write(tostring(passed))
			return
		end
		local seen = {}
		local function check(what, v) if v ~= nil then seen[#seen + 1] = what .. "=" .. tostring(v) end end
		check("X", X)
		check("Y", Y)
		check("rawget X", rawget(_G, "X"))
		check("string.X", string.X)
		check("string[1]", string[1])
		check("table[1]", table[1])
		check("#string", #string > 0 and #string or nil)
		check("next(string)", next(string))
		check("next(math)", next(math))
		check("json.X", require("json").X)
		check("json[1]", require("json")[1])
		check("(''):X", ("").X)
		check("req X", req.X)
		if tostring(1) ~= "1" then check("tostring", tostring(1)) end
		if type(print) ~= "function" then check("print", type(print)) end
		if getmetatable("") ~= "locked" then check("string metatable", getmetatable("")) end
		if type(string.rep) ~= "function" then check("string.rep", type(string.rep)) end
		if type(require("json").encode) ~= "function" then check("json.encode", type(require("json").encode)) end
		res:write(table.concat(seen, ","))
	end}`, "http", "json")
	w := httptestRequest(h, "GET", "/?step=write", "", map[string]string{"Authorization": "Bearer secret-A"})
	if w.Code != http.StatusOK {
		t.Fatalf("the writing request failed: %d %s", w.Code, w.Body.String())
	}
	t.Logf("%s of the routes ran without an error (writing their own environment)", w.Body.String())
	for i := 0; i < 3; i++ {
		w = serve(h, "GET", "/?step=read", "")
		if w.Code != http.StatusOK || w.Body.String() != "" {
			t.Fatalf("the next request saw: %d %q", w.Code, w.Body.String())
		}
	}
	// Other states share the library tables: a process sees them intact.
	r := e.run(`return {main = function()
		return tostring(string.X) .. tostring(string[1]) .. tostring(table[1]) .. tostring(next(string))
	end}`)
	if v := ok(t, r); !isText(v, "nilnilnilnil") {
		t.Fatalf("a process sees the library tables changed: %v", v)
	}
}

// The shared library tables refuse raw writes in a process too.
func TestLibrariesReadOnly(t *testing.T) {
	e := newEnv(t, nil)
	for _, code := range []string{
		`table.insert(string, "x")`, `table.insert(process, 1, "x")`, `table.remove(math)`,
		`table.sort(channel)`, `rawset(string, "rep", nil)`, `setmetatable(string, nil)`, `string.rep = nil`,
	} {
		r := e.run(`return {main = function() ` + code + ` end}`)
		if r.Err == nil || !strings.Contains(r.Err.Error(), "read-only") && !strings.Contains(r.Err.Error(), "protected metatable") {
			t.Errorf("%s: %v; want a read-only error", code, r.Err)
		}
	}
}

func isText(v value.Value, want string) bool {
	s, ok := v.Text()
	return ok && s == want
}

// A short piece of a long string is a copy: keeping one byte of each of
// many large strings does not keep the large strings alive behind the
// memory walk's back.
func TestMemoryLimitSubstringsDoNotRetain(t *testing.T) {
	e := newEnv(t, nil)
	pr := e.probe()
	p := e.process("test:pieces", `return {main = function(probe)
		local keep = {}
		for k = 1, 12 do
			local big = string.rep("x", 5000000) .. k
			keep[#keep + 1] = big:sub(1, 2)
			keep[#keep + 1] = big:match("^(xx)")
			keep[#keep + 1] = ({big:find("^(x)")})[3]
		end
		process.send(probe, "ready", #keep)
		process.inbox():receive()
		return #keep
	end}`)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	id := e.spawnWatched(pr, p, value.String(pr.PID.String()))
	pr.Next("ready")
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grown := int64(after.HeapAlloc) - int64(before.HeapAlloc); grown > 30<<20 {
		t.Errorf("the heap grew by %d MiB while the process keeps 36 short strings (of 60 MB made)", grown>>20)
	}
	pr.Send(id.String(), "go", value.Nil())
	if v, _ := ok(t, pr.Await(id)).Int(); v != 36 {
		t.Fatalf("kept %d", v)
	}
}

// Server shutdown stops processes that are inside long builtins: the
// node's shutdown ends with no goroutine left running.
func TestLongBuiltinsStopAtShutdown(t *testing.T) {
	e := newEnv(t, nil)
	pr := e.probe()
	for _, code := range []string{
		catastrophic,
		`(function() local t = {} for i = 1, 200000 do t[i] = -i end while true do table.sort(t) table.sort(t, function(a, b) return a > b end) end end)()`,
		`(function() while true do pcall(function() while true do end end) end end)()`,
	} {
		e.spawnWatched(pr, e.process("test:busy"+randSuffix(), `return {main = function() return `+code+` end}`))
	}
	poll.Until(t, timeout, "the processes to start", func() bool { return e.node.Stats().Processes >= 4 })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := e.node.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// With one CPU slot for busy Lua code, busy scripts take turns: three
// processes spinning for ever do not keep a fourth busy process, a busy
// handler or a process that mixes work and waiting from finishing; a
// spinner waiting for the slot can be terminated.
func TestCPUSlotsTakeTurns(t *testing.T) {
	e := newEnv(t, &luart.Options{LuaCores: 1})
	pr := e.probe()
	spin := e.process("test:spin", `return {main = function() local s = 0 while true do s = s + 1 end end}`)
	var spinners []pid.PID
	for range 3 {
		spinners = append(spinners, e.spawnWatched(pr, spin))
	}
	r := e.runWith(pr, `return {main = function()
		local s = 0
		for i = 1, 300000 do s = s + i end
		local ch = channel.new()
		for i = 1, 100 do
			ch:send(i)
			ch:receive()
			for j = 1, 500 do s = s + j end
		end
		return s
	end}`)
	if v, _ := ok(t, r).Number(); v != 300000*300001/2+100*500*501/2 {
		t.Fatalf("sum %v", v)
	}
	h := e.function("test:busyhandler", `local http = require("http")
	return {handler = function()
		local s = 0
		for i = 1, 1000000 do s = s + i end
		http.response():write(tostring(s))
	end}`, "http")
	if w := serve(h, "GET", "/", ""); w.Code != http.StatusOK || w.Body.String() != "500000500000" {
		t.Fatalf("busy handler: %d %q", w.Code, w.Body.String())
	}
	for _, id := range spinners {
		if err := e.node.Terminate(id); err != nil {
			t.Fatal(err)
		}
		if r := pr.Await(id); r.Err == nil {
			t.Fatalf("a spinner ended normally")
		}
	}
}

// string.format takes Lua's formats only, one argument a conversion: Go's
// verbs that make a result far larger than its format and arguments (an
// argument reused with %[1]s, a table printed whole with %#v) are
// refused, and so are widths of more than two digits.
func TestFormatIsLuas(t *testing.T) {
	e := newEnv(t, nil)
	for _, code := range []string{
		`string.format(("%[1]s"):rep(40), ("x"):rep(1048576))`,
		`local t = {} for i = 1, 10 do t[i] = "x" end return string.format("%#v", t)`,
		`string.format("%v", 1)`,
		`string.format("%999999d", 1)`,
		`string.format("%*d", 5, 1)`,
		`string.format("%d")`,
	} {
		r := e.run(`return {main = function() ` + code + ` end}`)
		if r.Err == nil || !strings.Contains(r.Err.Error(), "format") {
			t.Errorf("%s: %v; want an error of string.format", code, r.Err)
		}
	}
	r := e.run(`return {main = function()
		return string.format("%5.2f|%d|%s|%q|%x|%-4s|%03d|%%|%c|%g", 3.14159, 42, "hi", 'a"b\n\0c', 255, "ab", 7, 65, 0.5)
	end}`)
	if v := ok(t, r); !isText(v, " 3.14|42|hi|\"a\\\"b\\\n\\000c\"|ff|ab  |007|%|A|0.5") {
		t.Errorf("Lua formats: %v", v)
	}
}
