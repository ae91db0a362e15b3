package luart_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
)

func TestHandlerRequest(t *testing.T) {
	e := newEnv(t, nil)
	h := e.function("app:req", `
local http = require("http")
local json = require("json")
return { handler = function()
    local req = http.request()
    local res = http.response()
    local body_json, err = req:body_json()
    res:write_json({
        method = req:method(), path = req:path(), host = req:host(),
        remote = req:remote_addr() ~= "",
        q = req:query("q"), missing = req:query("nope") == nil,
        params = req:query_params(),
        id = req:param("id"),
        agent = req:header("X-Agent"),
        body = req:body(),
        json = body_json,
    })
end }`, "http", "json")
	mux := http.NewServeMux()
	mux.Handle("POST /items/{id}", h)
	w := httptestRequest(mux, "POST", "http://example.test/items/42?q=hello&x=1&x=2", `{"k":[1,2]}`, map[string]string{"X-Agent": "probe"})
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q, body %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := `{"agent":"probe","body":"{\"k\":[1,2]}","host":"example.test","id":"42","json":{"k":[1,2]},"method":"POST","missing":true,"params":{"q":"hello","x":"1"},"path":"/items/42","q":"hello","remote":true}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestHandlerResponse(t *testing.T) {
	e := newEnv(t, nil)
	h := e.function("app:res", `
local http = require("http")
return { handler = function()
    local res = http.response()
    res:set_status(201)
    res:header("X-One", "1")
    res:set_header("X-Two", "2")
    res:set_content_type("text/plain")
    res:write("hello ")
    res:write("world")
end }`, "http")
	w := serve(h, "GET", "/", "")
	if w.Code != 201 || w.Body.String() != "hello world" || w.Header().Get("X-One") != "1" ||
		w.Header().Get("X-Two") != "2" || w.Header().Get("Content-Type") != "text/plain" {
		t.Errorf("status %d headers %v body %q", w.Code, w.Header(), w.Body)
	}

	// Writing nothing is an empty 200; set_status alone is honoured.
	h = e.function("app:empty", `return { handler = function() end }`)
	if w := serve(h, "GET", "/", ""); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("empty handler: %d %q", w.Code, w.Body)
	}
	h = e.function("app:status", `local http = require("http"); return { handler = function() http.response():set_status(404) end }`, "http")
	if w := serve(h, "GET", "/", ""); w.Code != 404 {
		t.Errorf("status only: %d", w.Code)
	}
}

func TestHandlerBadCalls(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ name, body, log string }{
		{"status out of range", `http.response():set_status(42)`, "res:set_status: argument #2 (status) must be an HTTP status from 100 to 999, got 42"},
		{"status not a number", `http.response():set_status("ok")`, "res:set_status: argument #2 (status) must be an integer"},
		{"header after write", `local r = http.response(); r:write("x"); r:header("A", "b")`, "res:header: the response has already started"},
		{"header value missing", `http.response():header("A")`, "res:header: argument #3 (value) must be a string, got nil"},
		{"method without colon", `local r = http.request(); r.method()`, "call it with ':'"},
		{"write_json of a function", `http.response():write_json(print)`, "res:write_json: argument #2 (value) cannot be sent"},
		{"inbox in a handler", `process.inbox()`, "process.inbox: only a process can do this, and this code is a function.lua handler"},
		{"lua error", `error("secret detail")`, "secret detail"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := e.function("app:bad"+randSuffix(), `local http = require("http")
return { handler = function()
`+tc.body+`
end }`, "http")
			w := serve(h, "GET", "/", "")
			body := w.Body.String()
			id := w.Header().Get("X-Request-Id")
			if tc.name == "header after write" {
				if w.Code != 200 || body != "x" {
					t.Errorf("a failure after the response started keeps what was sent: %d %q", w.Code, body)
				}
			} else if w.Code != 500 || id == "" || !strings.Contains(body, "request id "+id) {
				t.Errorf("status %d, request id %q, body %q", w.Code, id, body)
			}
			if strings.Contains(body, "traceback") || strings.Contains(body, "secret") {
				t.Errorf("the client sees Lua internals: %q", body)
			}
			logs := e.logs.String()
			if !strings.Contains(logs, tc.log) || !strings.Contains(logs, "stack traceback") {
				t.Errorf("log lacks %q and a traceback:\n%s", tc.log, logs)
			}
		})
	}
}

func TestHandlerIsolation(t *testing.T) {
	e := newEnv(t, nil)
	h := e.function("app:count", `
local http = require("http")
local hits = 0
return { handler = function()
    hits = hits + 1
    leaked = (leaked or 0) + 1
    _G.also = (_G.also or 0) + 1
    http.response():write(hits .. " " .. leaked .. " " .. also)
end }`, "http")
	for i := range 5 {
		if w := serve(h, "GET", "/", ""); w.Body.String() != "1 1 1" {
			t.Fatalf("request %d saw state of an earlier one: %q", i, w.Body)
		}
	}
}

func TestHandlerProcessAPI(t *testing.T) {
	e := newEnv(t, nil)
	pr := e.probe()
	pr.Register("probe")
	h := e.function("app:send", `
local http = require("http")
return { handler = function()
    local ok = process.send("probe", "from_http", {pid = process.pid()})
    http.response():write(tostring(ok))
end }`, "http")
	if w := serve(h, "GET", "/", ""); w.Body.String() != "true" {
		t.Fatalf("body %q", w.Body)
	}
	m := pr.Recv()
	if m.Topic != "from_http" || m.From != (pid.PID{}) || m.Payload.Len() != 0 {
		t.Errorf("got %s from %v payload %v; a handler is no process and has no pid", m.Topic, m.From, m.Payload)
	}
}

func TestHandlerTimeout(t *testing.T) {
	e := newEnv(t, &luart.Options{HandlerTimeout: 50 * time.Millisecond})
	for name, body := range map[string]string{
		"busy loop":    `while true do end`,
		"sleep":        `require("time").sleep("1h")`,
		"channel wait": `channel.new():receive()`,
		"select wait":  `channel.select{channel.new():case_receive()}`,
	} {
		t.Run(name, func(t *testing.T) {
			h := e.function("app:slow"+randSuffix(), "return { handler = function() "+body+" end }", "time")
			w := serve(h, "GET", "/", "")
			if w.Code != 503 || !strings.Contains(w.Body.String(), "handler timed out") {
				t.Errorf("status %d body %q", w.Code, w.Body)
			}
		})
	}
	if !strings.Contains(e.logs.String(), "handler timed out after 50ms") {
		t.Errorf("the log does not say the handler timed out:\n%s", e.logs)
	}
}

func TestHandlerBodyLimit(t *testing.T) {
	e := newEnv(t, &luart.Options{MaxBodyBytes: 4})
	h := e.function("app:body", `local http = require("http")
return { handler = function()
    local b, err = http.request():body()
    http.response():write(tostring(b) .. "|" .. tostring(err))
end }`, "http")
	if w := serve(h, "POST", "/", "12345"); w.Body.String() != "nil|req:body: request body is larger than 4 bytes" {
		t.Errorf("body %q", w.Body)
	}
	if w := serve(h, "POST", "/", "1234"); w.Body.String() != "1234|nil" {
		t.Errorf("body %q", w.Body)
	}
}

func TestRunawayProcess(t *testing.T) {
	e := newEnv(t, nil)
	loop := e.process("app:loop", `return { main = function() while true do end end }`)
	pr := e.probe()
	for _, stop := range []struct {
		name string
		do   func(pid.PID) error
	}{
		{"terminate", e.node.Terminate},
		{"cancel", func(p pid.PID) error { return e.node.Cancel(pid.PID{}, p, "stop") }}, // after the host's 200 ms grace
	} {
		t.Run(stop.name, func(t *testing.T) {
			id := e.spawn(loop)
			pr.Monitor(id)
			if err := stop.do(id); err != nil {
				t.Fatal(err)
			}
			ev := pr.Event()
			if ev.Kind != process.EventExit || ev.From != id || ev.Result.Err == nil {
				t.Fatalf("got %+v, want the looping process's EXIT with an error", ev)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  luart.Source
		want string
	}{
		{"syntax", luart.Source{ID: "a:b", File: "apps/b.lua", Code: []byte("local x = \nreturn {"), Method: "m", Kind: luart.KindProcess}, "apps/b.lua"},
		{"syntax line", luart.Source{ID: "a:b", File: "b.lua", Code: []byte("local a = 1\nlocal b = = 2\n"), Method: "m", Kind: luart.KindProcess}, "b.lua:2:"},
		{"unknown module", luart.Source{ID: "a:b", File: "b.lua", Method: "m", Modules: []string{"fs"}, Kind: luart.KindProcess}, `a:b: modules: unknown module "fs" (known: channel, ctx, env, http, json, logger, pg, process, registry, time, uuid)`},
		{"every unknown module", luart.Source{ID: "a:b", File: "b.lua", Method: "m", Modules: []string{"fs", "jsno", "time", "os"}, Kind: luart.KindProcess},
			`a:b: modules: unknown module "fs" (known: channel, ctx, env, http, json, logger, pg, process, registry, time, uuid)` + "\n" + `a:b: modules: unknown module "jsno" (did you mean "json"?) (known: channel, ctx, env, http, json, logger, pg, process, registry, time, uuid)` + "\n" + `a:b: modules: unknown module "os"`},
		{"http in a process", luart.Source{ID: "a:b", File: "b.lua", Method: "m", Modules: []string{"http"}, Kind: luart.KindProcess}, "only available to function.lua entries"},
		{"no method", luart.Source{ID: "a:b", File: "b.lua", Kind: luart.KindProcess}, "a:b: method: method not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := luart.Compile(tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	_, err := luart.Compile(luart.Source{ID: "a:b", File: "b.lua", Code: []byte("x = = 1"), Method: "m", Kind: luart.KindProcess})
	var se *luart.SyntaxError
	if !errorsAs(err, &se) || se.Line != 1 || se.File != "b.lua" {
		t.Errorf("syntax error %#v", err)
	}
}
