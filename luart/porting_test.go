package luart_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Lua API that code written for the original runtime reaches for first.

func TestHTTPConstants(t *testing.T) {
	e := newEnv(t, nil)
	h := e.function("app:consts", `
local http = require("http")
return { handler = function()
    local res = http.response()
    res:set_status(http.STATUS.CREATED)
    res:set_content_type(http.CONTENT.JSON)
    res:write_json({
        ok = http.STATUS.OK, not_found = http.STATUS.NOT_FOUND, teapot = http.STATUS.IM_A_TEAPOT,
        too_large = http.STATUS.PAYLOAD_TOO_LARGE, unprocessable = http.STATUS.UNPROCESSABLE_ENTITY,
        internal = http.STATUS.INTERNAL_SERVER_ERROR, missing = http.STATUS.NOPE == nil,
        post = http.METHOD.POST, delete = http.METHOD.DELETE,
        text = http.CONTENT.TEXT, form = http.CONTENT.FORM,
        readonly = not pcall(function() http.STATUS.OK = 1 end),
    })
end }`, "http")
	w := serve(h, "GET", "/", "")
	want := `{"delete":"DELETE","form":"application/x-www-form-urlencoded","internal":500,"missing":true,"not_found":404,"ok":200,"post":"POST","readonly":true,"teapot":418,"text":"text/plain","too_large":413,"unprocessable":422}`
	if w.Code != 201 || w.Header().Get("Content-Type") != "application/json" || strings.TrimSpace(w.Body.String()) != want {
		t.Errorf("%d %q\n got %s\nwant %s", w.Code, w.Header().Get("Content-Type"), w.Body, want)
	}
}

func TestRequestParamsContentTypeBody(t *testing.T) {
	e := newEnv(t, nil)
	h := e.function("app:req2", `
local http = require("http")
return { handler = function()
    local req = http.request()
    http.response():write_json({params = req:params(), ct = req:content_type() or "none", body = req:has_body()})
end }`, "http")
	mux := http.NewServeMux()
	mux.Handle("/items/{id}/{rest...}", h)
	mux.Handle("/plain", h)
	for _, tc := range []struct {
		target, body string
		headers      map[string]string
		want         string
	}{
		{"http://x.test/items/42/a/b", `{"a":1}`, map[string]string{"Content-Type": "Application/JSON; charset=utf-8"},
			`{"body":true,"ct":"application/json","params":{"id":"42","rest":"a/b"}}`},
		{"http://x.test/plain", "", nil, `{"body":false,"ct":"none","params":{}}`},
		{"http://x.test/plain", "x", map[string]string{"Content-Type": "text/plain; =broken"}, `{"body":true,"ct":"text/plain","params":{}}`},
	} {
		w := httptestRequest(mux, "POST", tc.target, tc.body, tc.headers)
		var got any
		json.Unmarshal(w.Body.Bytes(), &got)
		if b, _ := json.Marshal(got); string(b) != tc.want {
			t.Errorf("%s: %d %s, want %s", tc.target, w.Code, w.Body, tc.want)
		}
	}
}

func TestLogger(t *testing.T) {
	e := newEnv(t, nil)
	r := e.run(`local logger = require("logger")
return { main = function()
    logger.info("room opened", {room = "lobby", members = 3, ratio = 0.5, ok = true, list = {1, 2}})
    logger.warn("plain")
    logger.debug("not shown at info")
    logger.error(string.rep("x", 10000))
    return true
end }`, "logger")
	ok(t, r)
	logs := e.logs.String()
	for _, want := range []string{
		`level=INFO msg="room opened" entry=test:TestLogger`,
		`pid={n1@app:processes|`,
		`list=[1,2] members=3 ok=true ratio=0.5 room=lobby`,
		`level=WARN msg=plain`,
		`…(cut)`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, "not shown") || strings.Count(logs, "x") > 9000 {
		t.Errorf("debug line shown or long message not cut:\n%.2000s", logs)
	}

	// print is cut the same way.
	ok(t, e.run(`return { main = function() print(string.rep("y", 10000), "z"); return true end }`))
	_, printed, _ := strings.Cut(e.logs.String(), `msg="lua print"`)
	if printed == "" || strings.Count(printed, "y") > 9000 || !strings.Contains(printed, `…(cut)`) {
		t.Errorf("a long print not cut:\n%.2000s", printed)
	}

	// In a handler, the request id is in the log line and, when the
	// request fails, on the error page: the two can be matched.
	h := e.function("app:logs", `
local logger = require("logger")
return { handler = function() logger.info("about to fail", {n = 1}); error("boom") end }`, "logger")
	w := serve(h, "GET", "/some/path", "")
	id := w.Header().Get("X-Request-Id")
	if w.Code != 500 || id == "" || !strings.Contains(e.logs.String(), `msg="about to fail" entry=app:logs request_id=`+id+` method=GET path=/some/path n=1`) {
		t.Errorf("%d %q:\n%s", w.Code, id, e.logs)
	}

	runCases(t, []luaCase{
		{name: "logger message not a string", body: `require("logger").info({})`, errText: "logger.info: argument #1 (message) must be a string"},
		{name: "logger fields not a table", body: `require("logger").info("m", 3)`, errText: "logger.info: argument #2 (fields) must be a table"},
	}, "logger")
}

func TestTimeConstantsTimersNow(t *testing.T) {
	runCases(t, []luaCase{
		{name: "constants are nanoseconds", body: `local time = require("time")
			return {time.SECOND, time.MILLISECOND * 250, time.MINUTE / time.SECOND, time.HOUR / time.SECOND, time.MICROSECOND * 1000, time.NANOSECOND}`,
			want: []any{1000000000, 250000000, 60, 3600, 1000000, 1}},
		{name: "sleep takes a constant", body: `local time = require("time"); time.sleep(2 * time.MILLISECOND); return true`, want: true},
		{name: "now is a time with methods", body: `local time = require("time")
			local t = time.now()
			return {type(t), t:unix() == math.floor(t:unix_nano() / 1e9), t:unix_milli() >= t:unix() * 1000, t <= time.now(), t == t, tostring(t):sub(1, 2)}`,
			want: []any{"userdata", true, true, true, true, "20"}},
		{name: "a number keeps the methods of a time", body: `local time = require("time")
			local t = 1700000000.5
			return {t:format(), t:format(time.RFC3339_NANO), t:format(time.DATE_TIME), t:unix()}`,
			want: []any{"2023-11-14T22:13:20Z", "2023-11-14T22:13:20.5Z", "2023-11-14 22:13:20", 1700000000}},
		{name: "format of a non-time", body: `local x = 1e300; return x:format()`, errText: "is not a Unix time in seconds"},
		{name: "timer fires once", body: `local time = require("time")
			local t = time.timer(time.MILLISECOND)
			local v = t:response():receive()
			return {v:unix() > 0, t:stop()}`, want: []any{true, false}},
		{name: "ticker ticks until stopped", body: `local time = require("time")
			local tk = time.ticker(time.MILLISECOND)
			local a = tk:channel():receive()
			local b = tk:channel():receive()
			local was = tk:stop()
			return {b >= a, was}`, want: []any{true, true}},
		{name: "timer stopped does not fire", body: `local time = require("time")
			local t = time.timer(time.MILLISECOND)
			local stopped = t:stop()
			time.sleep(20 * time.MILLISECOND)
			local r = channel.select{t:channel():case_receive(), default = true}
			return {stopped, r.default == true}`, want: []any{true, true}},
		{name: "timer reset", body: `local time = require("time")
			local t = time.timer(time.HOUR)
			local was = t:reset(time.MILLISECOND)
			t:channel():receive()
			return was`, want: true},
		{name: "ticker needs a period of 1ms or more", body: `require("time").ticker(1000)`, errText: "time.ticker: argument #1 (duration) must be at least 1ms"},
	}, "time")

	e := newEnv(t, nil)
	h := e.function("app:tick", `local time = require("time")
return { handler = function() time.ticker(1) end }`, "time")
	if w := serve(h, "GET", "/", ""); w.Code != 500 || !strings.Contains(e.logs.String(), "time.ticker: only a process can do this") {
		t.Errorf("a ticker in a handler: %d\n%s", w.Code, e.logs)
	}
}

func TestSendAndSetOptions(t *testing.T) {
	runCases(t, []luaCase{
		{name: "send with several payloads fails loudly", body: `process.send("probe", "t", 1, 2, 3)`,
			errText: "process.send: 3 payloads given; a message carries one: put the values in a table"},
		{name: "send with a nil payload is one payload", body: `return process.send("probe", "t", nil)`, want: true},
		{name: "set_options returns true", body: `return process.set_options{trap_links = true}`, want: true},
		{name: "set_options unknown option", body: `local ok, err = process.set_options{trap_link = true}; return {ok == nil, err}`,
			want: []any{true, `process.set_options: unknown option string trap_link (did you mean "trap_links"?) (known: trap_links)`}},
		{name: "set_options wrong type", body: `local ok, err = process.set_options{trap_links = "yes"}; return {ok == nil, err}`,
			want: []any{true, "process.set_options: trap_links must be a boolean, got string"}},
	})
}
