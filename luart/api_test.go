package luart_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/value"
)

// luaCase runs body as main(probe_pid) of a Lua process and checks its
// return value, or that it failed with an error containing errText.
type luaCase struct {
	name    string
	body    string
	want    any    // the return value (through value.MustOf)
	errText string // non-empty: the process must fail with this
}

func runCases(t *testing.T, cases []luaCase, modules ...string) {
	t.Helper()
	runCasesWith(t, nil, cases, modules...)
}

func TestProcessAPI(t *testing.T) {
	runCases(t, []luaCase{
		{name: "pid", body: `local p = process.pid(); return p:sub(1, 18) == "{n1@app:processes|" and p:sub(-1) == "}"`, want: true},
		{name: "send to pid", body: `return process.send(probe_pid, "t", {a = 1})`, want: true},
		{name: "send to name", body: `return process.send("probe", "t", 1)`, want: true},
		{name: "send to unknown name", body: `local ok, err = process.send("nobody", "t", 1); return {ok, err}`, want: []any{false, `process: resolve "nobody": unknown name`}},
		{name: "send to dead pid is fine", body: `return process.send("{n1@app:processes|1}", "t", 1)`, want: true},
		{name: "send bad pid text", body: `local ok, err = process.send("{bad", "t"); return err`, want: `invalid pid "{bad": must be enclosed in braces, as in {node@host|id}`},
		{name: "send reserved topic", body: `local ok, err = process.send("probe", "@x", 1); return err`, want: "process: send @x: reserved topic"},
		{name: "send empty topic", body: `local ok, err = process.send("probe", "", 1); return err`, want: "process: send: empty topic"},
		{name: "send topic not a string", body: `process.send("probe", nil, 1)`, errText: "process.send: argument #2 (topic) must be a string, got nil"},
		{name: "send function payload", body: `process.send("probe", "t", print)`, errText: "process.send: argument #3 (payload) cannot be sent: a function cannot be sent as a value"},
		{name: "send dest not a string", body: `process.send(42, "t", 1)`, errText: "process.send: argument #1 (destination) must be a string, got number"},

		{name: "spawn and result", body: `
			local pid = process.spawn_monitored("test:child", "app:processes", 20, 22)
			local ev = process.events():receive()
			return {ev.kind, ev.from == pid, ev.result.value}`, want: []any{"EXIT", true, 42}},
		{name: "spawn relative id", body: `
			local pid = process.spawn_monitored("child", "app:processes", 1, 2)
			return process.events():receive().result.value`, want: 3},
		{name: "spawn unknown entry", body: `local pid, err = process.spawn("test:none", "app:processes"); return {pid == nil, err}`,
			want: []any{true, `process.spawn: unknown process.lua entry "test:none"`}},
		{name: "spawn unknown host", body: `local pid, err = process.spawn("test:child", "nohost"); return err`,
			want: "process.spawn: process: spawn nohost: unknown process host"},
		{name: "spawn bad argument", body: `process.spawn("test:child", "app:processes", print)`, errText: "process.spawn: argument #3 (spawn argument) cannot be sent"},
		{name: "spawn failing child", body: `
			local pid = process.spawn_monitored("test:fail", "app:processes")
			local ev = process.events():receive()
			return ev.result.error:match("boom") ~= nil`, want: true},
		{name: "spawn_linked child failure terminates parent", body: `
			process.spawn_linked("test:fail", "app:processes")
			process.inbox():receive()`, errText: "link down: {n1@app:processes|"},
		{name: "spawn_linked_monitored with trap", body: `
			process.set_options{trap_links = true}
			local pid = process.spawn_linked_monitored("test:fail", "app:processes")
			local a = process.events():receive()
			local b = process.events():receive()
			local kinds = {[a.kind] = true, [b.kind] = true}
			return {kinds.EXIT == true, kinds.LINK_DOWN == true, a.from == pid, b.from == pid}`, want: []any{true, true, true, true}},

		{name: "monitor dead pid gives noproc", body: `
			assert(process.monitor("{n1@app:processes|1}"))
			local ev = process.events():receive()
			return {ev.kind, ev.result.error}`, want: []any{"EXIT", "noproc"}},
		{name: "unmonitor", body: `
			local pid = process.spawn("test:waiter", "app:processes")
			assert(process.monitor(pid))
			assert(process.unmonitor(pid))
			process.terminate(pid)
			local r = channel.select{process.events():case_receive(), default = true}
			return r.default == true`, want: true},
		{name: "monitor self", body: `local ok, err = process.monitor(process.pid()); return {ok, err:match("itself") ~= nil}`, want: []any{false, true}},
		{name: "link and terminate", body: `
			process.set_options{trap_links = true}
			local pid = process.spawn("test:waiter", "app:processes")
			assert(process.link(pid))
			process.terminate(pid)
			local ev = process.events():receive()
			return {ev.kind, ev.result.error}`, want: []any{"LINK_DOWN", "terminated"}},
		{name: "unlink", body: `
			local pid = process.spawn("test:waiter", "app:processes")
			assert(process.link(pid))
			assert(process.unlink(pid))
			process.terminate(pid)
			local r = channel.select{process.events():case_receive(), default = true}
			return r.default == true`, want: true},
		{name: "link to dead pid", body: `local ok, err = process.link("{n1@app:processes|1}"); return {ok, err:match("noproc") ~= nil}`, want: []any{false, true}},
		{name: "cancel", body: `
			local pid = process.spawn_monitored("test:cancellable", "app:processes")
			assert(process.cancel(pid, "bye"))
			local ev = process.events():receive()
			return ev.result.value`, want: "cancelled: bye"},
		{name: "terminate", body: `
			local pid = process.spawn_monitored("test:waiter", "app:processes")
			assert(process.terminate(pid))
			return process.events():receive().result.error`, want: "terminated"},
		{name: "cancel unknown name", body: `local ok, err = process.cancel("nobody"); return ok`, want: false},
		{name: "set_options unknown", body: `local ok, err = process.set_options{bogus = 1}; return err`, want: "process.set_options: unknown option string bogus (known: trap_links)"},
		{name: "event constants", body: `return {process.event.EXIT, process.event.LINK_DOWN, process.event.CANCEL}`, want: []any{"EXIT", "LINK_DOWN", "CANCEL"}},

		{name: "registry", body: `
			assert(process.registry.register("me"))
			local a = process.registry.lookup("me") == process.pid()
			local ok, err = process.registry.register("probe")
			local b = process.registry.unregister("me")
			local c, cerr = process.registry.lookup("me")
			local d, derr = process.registry.unregister("me")
			return {a, ok, err == 'process: register "probe": name probe is held by ' .. probe_pid, b, c == nil, cerr, d, derr}`,
			want: []any{true, false, true, true, true, "process.registry.lookup: no process is registered as me", false, `process: unregister "me": unknown name`}},
		{name: "register other pid", body: `
			local pid = process.spawn("test:waiter", "app:processes")
			assert(process.registry.register("other", pid))
			local same = process.registry.lookup("other") == pid
			process.terminate(pid)
			return same`, want: true},
		{name: "register bad name", body: `local ok, err = process.registry.register("{x"); return ok`, want: false},

		{name: "inbox message object", body: `
			process.send(process.pid(), "hello", {n = 1, list = {1, 2}})
			local msg, ok = process.inbox():receive()
			local d = msg:payload():data()
			return {ok, msg:topic(), msg:from() == process.pid(), d.n, d.list[2], tostring(msg)}`,
			want: []any{true, "hello", true, 1, 2, "message"}},
		{name: "message method without colon", body: `
			process.send(process.pid(), "x", 1)
			local msg = process.inbox():receive()
			return msg.topic()`, errText: "message methods are called with ':'"},
		{name: "cannot send to inbox", body: `process.inbox():send(1)`, errText: "channel:send: cannot send to the inbox; use process.send"},
	})
}

// The helper programs the process API cases spawn.
func init() {
	helperPrograms = map[string]string{
		"test:child":       `return { main = function(a, b) return a + b end }`,
		"test:fail":        `return { main = function() error("boom") end }`,
		"test:waiter":      `return { main = function() process.inbox():receive() end }`,
		"test:cancellable": `return { main = function() local ev = process.events():receive(); return "cancelled: " .. ev.reason end }`,
	}
}

var helperPrograms map[string]string

func TestChannelAPI(t *testing.T) {
	runCases(t, []luaCase{
		{name: "send receive", body: `
			local ch = channel.new()
			assert(ch:send("a")); assert(ch:send({x = 1}))
			local a, ok1 = ch:receive()
			local b, ok2 = ch:receive()
			return {a, ok1, b.x, ok2}`, want: []any{"a", true, 1, true}},
		{name: "bounded", body: `
			local ch = channel.new(1)
			local ok1 = ch:send(1)
			local ok2, err = ch:send(2)
			return {ok1, ok2, err}`, want: []any{true, false, "channel full (size 1)"}},
		{name: "close", body: `
			local ch = channel.new(2)
			ch:send(1)
			local first = ch:close()
			local again = ch:close()
			local v1, ok1 = ch:receive()
			local v2, ok2 = ch:receive()
			local sok, serr = ch:send(3)
			return {first, again, v1, ok1, v2 == nil, ok2, sok, serr}`, want: []any{true, false, 1, true, true, false, false, "channel closed"}},
		{name: "bad size", body: `channel.new(-1)`, errText: "channel.new: argument #1 (size) must be 0 (unbuffered) or more"},
		{name: "unbuffered with no other coroutine", body: `
			local ok, err = channel.new(0):send(1)
			return {ok, err}`, want: []any{false, "unbuffered channel: no other coroutine of this process can receive the value now (a send waits for a receive by a coroutine of coroutine.spawn, and only where its wait gives the worker back: see How processes run in docs/lua.md)"}},
		{name: "size not integer", body: `channel.new(1.5)`, errText: "channel.new: argument #1 (size) must be an integer, got number 1.5"},
		{name: "select picks the ready case", body: `
			local a, b = channel.new(), channel.new()
			b:send("from b")
			local r = channel.select{a:case_receive(), b:case_receive()}
			return {r.channel == b, r.value, r.ok}`, want: []any{true, "from b", true}},
		{name: "select default", body: `
			local a = channel.new()
			local r = channel.select{a:case_receive(), default = true}
			return {r.default, r.channel == nil}`, want: []any{true, true}},
		{name: "select closed", body: `
			local a = channel.new()
			a:close()
			local r = channel.select{a:case_receive()}
			return {r.channel == a, r.ok}`, want: []any{true, false}},
		{name: "select waits for a timer", body: `
			local time = require("time")
			local a = channel.new()
			local t = time.after("10ms")
			local r = channel.select{a:case_receive(), t:case_receive()}
			return {r.channel == t, r.value:unix() > 0}`, want: []any{true, true}},
		{name: "select inbox and events", body: `
			process.send(process.pid(), "ping", "x")
			local inbox, events = process.inbox(), process.events()
			local r = channel.select{events:case_receive(), inbox:case_receive()}
			return {r.channel == inbox, r.value:topic()}`, want: []any{true, "ping"}},
		{name: "select not a case", body: `channel.select{1}`, errText: "channel.select: argument #1 (cases) item 1 is not a case"},
		{name: "select nothing", body: `channel.select{}`, errText: "has no cases and no default"},
	}, "time")
}

func TestTimeAPI(t *testing.T) {
	runCases(t, []luaCase{
		{name: "now", body: `local time = require("time"); local n = time.now():unix(); return n > 1.7e9 and n < 4e9`, want: true},
		{name: "sleep string", body: `local time = require("time"); local a = time.now(); time.sleep("20ms"); return time.now():sub(a):seconds() >= 0.019`, want: true},
		{name: "sleep nanoseconds", body: `local time = require("time"); time.sleep(1000000); return true`, want: true},
		{name: "after", body: `local time = require("time"); local v, ok = time.after("1ms"):receive(); return {v:unix() > 0, ok}`, want: []any{true, true}},
		{name: "bad duration", body: `require("time").sleep("soon")`, errText: `time.sleep: argument #1 (duration) is not a duration like "1.5s" or "100ms": soon`},
		{name: "negative", body: `require("time").after(-1)`, errText: "time.after: argument #1 (duration) must not be negative"},
		{name: "wrong type", body: `require("time").sleep({})`, errText: `time.sleep: argument #1 (duration) must be a duration string like "1.5s", a number of nanoseconds (5 * time.SECOND) or a duration, got table`},
	}, "time")
}

func TestJSONAPI(t *testing.T) {
	runCases(t, []luaCase{
		{name: "encode", body: `local json = require("json"); return json.encode({b = {1, 2.5, "x"}, a = true})`, want: `{"a":true,"b":[1,2.5,"x"]}`},
		{name: "encode empty table", body: `return require("json").encode({})`, want: `{}`},
		{name: "encode nil", body: `return require("json").encode(nil)`, want: `null`},
		{name: "encode function", body: `local s, err = require("json").encode({f = print}); return {s == nil, err}`, want: []any{true, "json.encode: at f: a function cannot be sent as a value"}},
		{name: "encode cycle", body: `local t = {}; t.self = t; local s, err = require("json").encode(t); return err`, want: "json.encode: at self: the table contains itself (a cycle)"},
		{name: "encode mixed keys", body: `local s, err = require("json").encode({1, 2, x = 3}); return err`, want: "json.encode: a map key must be a string, got the number 1"},
		{name: "decode", body: `local v = require("json").decode('{"a":[1,2,{"b":null}],"c":"d"}'); return {v.a[2], v.c, v.a[3].b == nil}`, want: []any{2, "d", true}},
		{name: "decode error", body: `local v, err = require("json").decode("{bad"); return {v == nil, err ~= nil}`, want: []any{true, true}},
		{name: "decode not string", body: `require("json").decode(42)`, errText: "json.decode: argument #1 (text) must be a string, got number"},
	}, "json")
}

func TestConversion(t *testing.T) {
	deep := "local t = {}; local c = t; for i = 1, 70 do c.x = {}; c = c.x end; return t"
	runCases(t, []luaCase{
		{name: "integers stay integers", body: `return {1, -7, 2^40}`, want: []any{int64(1), int64(-7), int64(1) << 40}},
		{name: "floats", body: `return 0.5`, want: 0.5},
		{name: "list", body: `return {"a", "b"}`, want: []any{"a", "b"}},
		{name: "sparse table is not a list", body: `local t = {}; t[1] = 1; t[3] = 3; return t`, errText: "a map key must be a string, got the number"},
		{name: "empty table is an empty map", body: `return {}`, want: map[string]any{}},
		{name: "nested map", body: `return {a = {b = {c = "d"}}}`, want: map[string]any{"a": map[string]any{"b": map[string]any{"c": "d"}}}},
		{name: "byte string", body: `return "\255\0\1"`, want: value.BytesString("\xff\x00\x01")},
		{name: "nested too deep", body: deep, errText: "nested deeper than 64 levels"},
		{name: "cycle", body: `local t = {}; t[1] = t; return t`, errText: "the table contains itself"},
		{name: "userdata", body: `return process.inbox()`, errText: "a userdata cannot be sent as a value"},
		{name: "bytes survive a round trip", body: `
			process.send(process.pid(), "b", "\0\255\128")
			local m = process.inbox():receive()
			return m:payload():data() == "\0\255\128"`, want: true},
		{name: "args arrive converted", body: `return probe_pid:sub(1, 1)`, want: "{"},
	})
}

func TestSandbox(t *testing.T) {
	runCases(t, []luaCase{
		{name: "no io", body: `return io == nil`, want: true},
		{name: "no debug", body: `return debug == nil`, want: true},
		{name: "no os.execute or os.exit", body: `return {os.execute == nil, os.exit == nil, os.getenv == nil, os.remove == nil}`, want: []any{true, true, true, true}},
		{name: "os time and clock", body: `return {type(os.time()), type(os.clock()), type(os.date("%Y"))}`, want: []any{"number", "number", "string"}},
		{name: "no file loading", body: `return {dofile == nil, loadfile == nil, load == nil, loadstring == nil}`, want: []any{true, true, true, true}},
		{name: "libraries", body: `return {string.upper("a"), table.concat({1, 2}, ","), math.floor(1.5), ("x"):rep(2)}`, want: []any{"A", "1,2", 1, "xx"}},
		{name: "coroutines", body: `local co = coroutine.wrap(function() coroutine.yield(1) end); return co()`, want: 1},
		{name: "library tables are read-only", body: `string.upper = nil`, errText: "the library table string is read-only"},
		{name: "rawset on a library", body: `rawset(string, "x", 1)`, errText: "rawset: library tables are read-only"},
		{name: "require unlisted", body: `local m = "json"; require(m)`, errText: `require("json"): module "json" is not listed in the modules of entry test:`},
		{name: "require http in a process", body: `local m = "http"; require(m)`, errText: `require("http"): module "http" serves requests and is only available to function.lua entries`},
		{name: "require of no module", body: `local m = "sql"; require(m)`, errText: `require("sql"): wsrelay has no module "sql"`},
		{name: "print logs", body: `print("hello", 1); return true`, want: true},
		{name: "error has a traceback", body: `error("bad thing")`, errText: "stack traceback:"},
		{name: "runtime error names the line", body: "local x = nil\nreturn x.y", errText: ".lua:3: attempt to index a non-table object(nil)"},
	})
}

func TestProcessResult(t *testing.T) {
	e := newEnv(t, nil)
	r := e.run(`return { main = function() error("kaput") end }`)
	var le *luart.Error
	if !errors.As(r.Err, &le) {
		t.Fatalf("error %T %v, want *luart.Error", r.Err, r.Err)
	}
	if !strings.Contains(le.Message, "kaput") || !strings.Contains(le.Traceback, "stack traceback:") {
		t.Errorf("message %q traceback %q", le.Message, le.Traceback)
	}
	// A global function of the method's name works too.
	r = e.run(`function main() return "global" end`)
	if v, _ := ok(t, r).Text(); v != "global" {
		t.Errorf("global main returned %v", r.Value)
	}
	// No such method, in a file whose names show only when it runs (a
	// visible one is refused by Compile: TestMethodCheckedWhenCompiled).
	r = e.run(`local t = {}; t[("oth") .. "er"] = function() end; return t`)
	if !errors.Is(r.Err, luart.ErrNoMethod) {
		t.Errorf("missing method: %v", r.Err)
	}
	// A result that cannot be a value.
	r = e.run(`return { main = function() return print end }`)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "cannot be a process result") {
		t.Errorf("function result: %v", r.Err)
	}
	// An error while the chunk loads.
	r = e.run(`error("at load")`)
	if r.Err == nil || !strings.Contains(r.Err.Error(), "at load") {
		t.Errorf("load error: %v", r.Err)
	}
}
