package luart_test

import (
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/value"
)

// The logger as the original runtime's code calls it: with colons, and
// child loggers from named and with.
func TestLoggerColonAndChildren(t *testing.T) {
	e := newEnv(t, nil)
	ok(t, e.run(`local logger = require("logger")
return { main = function()
    logger:info("colon call", {a = 1})
    local auth = logger:named("auth")
    auth:warn("from auth")
    local req = auth:with({request_id = "r1", user = "ann"})
    req:info("with fields", {user = "bob"})
    req:named("db"):error("nested")
    logger.with({x = 1}):info("dot with")
    local ok1 = pcall(function() logger:named("") end)
    local ok2 = pcall(function() logger:with("x") end)
    return ok1 == false and ok2 == false
end }`, "logger"))
	logs := e.logs.String()
	for _, want := range []string{
		`level=INFO msg="colon call" entry=test:TestLoggerColonAndChildren`,
		`a=1`,
		`level=WARN msg="from auth" entry=test:TestLoggerColonAndChildren_`,
		`logger=auth`,
		`msg="with fields"`,
		`logger=auth request_id=r1 user=ann user=bob`,
		`level=ERROR msg=nested`,
		`logger=auth.db request_id=r1 user=ann`,
		`msg="dot with"`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// Time values, durations, parsing and formatting, as the original's time
// page shows them.
func TestTimeValues(t *testing.T) {
	runCases(t, []luaCase{
		{name: "unix and format", body: `local time = require("time")
			local t = time.unix(1703862245, 500000000)
			return {t:utc():format_rfc3339(), t:format(time.DATE_ONLY), t:unix(), t:unix_milli(), t:nanosecond()}`,
			want: []any{"2023-12-29T15:04:05Z", "2023-12-29", 1703862245, 1703862245500, 500000000}},
		{name: "date and components", body: `local time = require("time")
			local t = time.date(2024, time.DECEMBER, 25, 10, 30, 0, 0, time.utc)
			local y, m, d = t:date()
			local h, mi, s = t:clock()
			return {t:format_rfc3339(), y, m, d, h, mi, s, t:weekday(), t:year_day(), t:month(), t:is_zero()}`,
			want: []any{"2024-12-25T10:30:00Z", 2024, 12, 25, 10, 30, 0, 3, 360, 12, false}},
		{name: "parse", body: `local time = require("time")
			local t, err = time.parse(time.RFC3339, "2024-12-29T15:04:05Z")
			local d = time.parse("2006-01-02", "2024-12-29")
			local bad, berr = time.parse("2006-01-02", "nope")
			return {t:unix(), err == nil, d:format_rfc3339(), bad == nil, berr ~= nil}`,
			want: []any{1735484645, true, "2024-12-29T00:00:00Z", true, true}},
		{name: "arithmetic", body: `local time = require("time")
			local t = time.date(2024, 1, 31, 0, 0, 0, 0, time.utc)
			local tomorrow = t:add("24h")
			local later = t:add(5 * time.MINUTE)
			local diff = tomorrow:sub(t)
			return {diff:hours(), later:minute(), t:add_date(0, 1, 0):format(time.DATE_ONLY), t:before(tomorrow), tomorrow:after(t), t:equal(t), t < tomorrow}`,
			want: []any{24, 5, "2024-03-02", true, true, true, true}},
		{name: "durations", body: `local time = require("time")
			local d, err = time.parse_duration("1h30m45s500ms")
			local n = time.parse_duration(time.SECOND)
			local bad, berr = time.parse_duration("soon")
			return {d:hours(), d:minutes(), d:seconds(), d:milliseconds(), n:seconds(), tostring(n), bad == nil, berr}`,
			want: []any{1.5126388888888889, 90.75833333333334, 5445.5, 5445500, 1, "1s", true,
				`time.parse_duration: is not a duration like "1.5s" or "100ms": soon`}},
		{name: "round and truncate", body: `local time = require("time")
			local t = time.date(2024, 1, 1, 10, 40, 0, 0, time.utc)
			local h = time.parse_duration("1h")
			return {t:round(h):hour(), t:truncate(h):hour()}`,
			want: []any{11, 10}},
		{name: "locations", body: `local time = require("time")
			local ist = time.fixed_zone("IST", 5 * 3600 + 30 * 60)
			local t = time.date(2024, 1, 15, 12, 0, 0, 0, ist)
			return {t:utc():format(time.TIME_ONLY), t:location():string(), tostring(time.utc)}`,
			want: []any{"06:30:00", "IST", "UTC"}},
		{name: "a time is a number of seconds in a payload", body: `local time = require("time")
			local v = require("json").encode({at = time.unix(1700000000, 0), d = time.parse_duration("2s")})
			return v`, want: `{"at":1700000000,"d":2000000000}`},
		{name: "sleep takes a duration value", body: `local time = require("time"); time.sleep(time.parse_duration("1ms")); return true`, want: true},
		{name: "a bad duration", body: `require("time").sleep({})`, errText: `must be a duration string like "1.5s", a number of nanoseconds (5 * time.SECOND) or a duration`},
		{name: "a method on a non-time", body: `local t = require("time").now(); t.unix({})`, errText: "t:unix: call it with ':' on a time"},
	}, "time", "json")
}

// process.with_context: a spawner with context values, a name and
// messages; the child reads the values with ctx and passes them on.
func TestSpawnerAndContext(t *testing.T) {
	e := newEnv(t, nil)
	e.process("app:grandchild", `return { main = function()
    local ctx = require("ctx")
    process.send("probe", "grandchild", {ctx.get("request_id"), ctx.get("user")})
end }`, "ctx")
	e.process("app:child", `return { main = function(arg)
    local ctx = require("ctx")
    local msg = process.inbox():receive()
    local all = ctx.all()
    local missing, err = ctx.get("nope")
    process.send("probe", "child", {arg, all.request_id, all.user, msg:topic(), msg:payload():data(),
        process.registry.lookup("named_child") == process.pid(), missing == nil, err})
    process.spawn("app:grandchild", "app:processes")
    process.inbox():receive()
end }`, "ctx")
	pr := e.probe()
	pr.Register("probe")
	r := e.runWith(pr, `return { main = function()
    local base = process.with_context({request_id = "r1"})
    local sp = base:with_context({user = "ann"}):with_name("named_child"):with_message("hello", {n = 1})
    local pid, err = sp:spawn("app:child", "app:processes", "arg1")
    local ok1, e1 = pcall(function() base:with_actor({}) end)
    local ok2, e2 = pcall(function() process.with_options({network = "x"}) end)
    return {pid ~= nil, err == nil, ok1, e1:find("no security actors", 1, true) ~= nil, ok2, e2:find("no network.* entries", 1, true) ~= nil}
end }`)
	got := ok(t, r)
	if want := value.MustOf([]any{true, true, false, true, false, true}); !value.Equal(got, want) {
		t.Errorf("spawner: %v, want %v", got, want)
	}
	m := pr.Next("child").Payload
	if want := value.MustOf([]any{"arg1", "r1", "ann", "hello", map[string]any{"n": 1}, true, true, "ctx.get: no context value nope"}); !value.Equal(m, want) {
		t.Errorf("child saw %v\nwant %v", m, want)
	}
	if m := pr.Next("grandchild").Payload; !value.Equal(m, value.MustOf([]any{"r1", "ann"})) {
		t.Errorf("grandchild saw %v: the context is passed on", m)
	}
}

// Spawner options of the original runtime that wsrelay has not: a clear
// error each, naming what to do.
func TestSpawnerRefusals(t *testing.T) {
	runCases(t, []luaCase{
		{name: "network", body: `process.with_options({network = "app:tor_proxy"})`,
			errText: "process.with_options: argument #1 (options) network: wsrelay has no network.* entries to choose from"},
		{name: "network on a spawner", body: `process.with_context({}):with_options({network = "app:tor_proxy"})`,
			errText: "spawner:with_options: argument #2 (options) network: wsrelay has no network.* entries"},
		{name: "unknown option", body: `process.with_options({colour = "red"})`,
			errText: `process.with_options: argument #1 (options) wsrelay has no spawn option "colour"`},
		{name: "no options", body: `local sp = process.with_options({}):with_options(nil); return tostring(sp)`, want: "spawner"},
	})
}

func TestCoroutineSpawnAndCancelReason(t *testing.T) {
	runCases(t, []luaCase{
		{name: "coroutine.spawn", body: `local ch = channel.new(1); coroutine.spawn(function(v) ch:send(v) end, "spawned"); local v = ch:receive(); return v`, want: "spawned"},
		{name: "cancel takes a reason", body: `local ok, err = process.cancel("nobody", "shutting down"); return {ok, err}`, want: []any{false, `process: resolve "nobody": unknown name`}},
		{name: "cancel takes a number", body: `local ok = process.cancel("nobody", 5); return ok`, want: false},
		{name: "cancel refuses a table", body: `process.cancel("nobody", {})`, errText: "process.cancel: argument #2 (reason) must be a string, got table"},
	})
}

// process.listen: messages of a topic go to its channel, the others to
// the inbox, each in order; unlisten gives the held ones back to the inbox.
func TestListen(t *testing.T) {
	e := newEnv(t, nil)
	pr := e.probe()
	pr.Register("probe")
	p := e.process("app:listener", `return { main = function()
    local updates = process.listen("update")
    local raw = process.listen("raw", {message = true})
    local again, err = process.listen("update")
    process.send("probe", "ready", true)
    local inbox = process.inbox()
    local got = {}
    -- the inbox first: the listened messages wait in their channels
    local m = inbox:receive()
    table.insert(got, m:topic() .. "=" .. tostring(m:payload():data()))
    table.insert(got, "update=" .. updates:receive().n)
    local r = channel.select{updates:case_receive(), inbox:case_receive()}
    table.insert(got, (r.channel == updates and "update=" or "inbox=") .. tostring(r.value.n or r.value:payload():data()))
    local msg = raw:receive()
    table.insert(got, "raw:" .. msg:topic() .. "=" .. msg:payload():data())
    table.insert(got, tostring(process.unlisten(updates)))
    local left = inbox:receive()
    table.insert(got, "after unlisten " .. left:topic() .. "=" .. left:payload():data().n)
    process.send("probe", "got", {got, again == nil, err})
end }`)
	pid := e.spawn(p)
	pr.Next("ready")
	pr.Send(pid.String(), "update", value.MustOf(map[string]any{"n": 1}))
	pr.Send(pid.String(), "raw", value.String("r1"))
	pr.Send(pid.String(), "chat", value.String("c1"))
	pr.Send(pid.String(), "update", value.MustOf(map[string]any{"n": 2}))
	pr.Send(pid.String(), "update", value.MustOf(map[string]any{"n": 3}))
	got := pr.Next("got").Payload
	want := value.MustOf([]any{[]any{"chat=c1", "update=1", "update=2", "raw:raw=r1", "true", "after unlisten update=3"}, true, "process.listen: the process listens to update already"})
	if !value.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
}
