package luart_test

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/luart"
)

// childEnv names the test a child process runs (inChild).
const childEnv = "WSRELAY_LUART_CHILD"

// inChild runs body in a child process, a new run of this test binary
// limited to the calling test, and fails the test if the child fails or
// dies: code that could end the process (a fatal out-of-memory) then fails
// one test instead of killing the test binary. Tests using it must be top
// level and not parallel.
func inChild(t *testing.T, body func(t *testing.T)) {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		body(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the child process failed (%v):\n%s", err, lastOf(string(out), 4000))
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("the child process did not run %s:\n%s", t.Name(), lastOf(string(out), 4000))
	}
	t.Logf("the child process:\n%s", lastOf(string(out), 2000))
}

func lastOf(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// allocated returns how many bytes the process has allocated so far: the
// difference over an operation bounds the heap it can have used.
func allocated() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}

// A 10 MiB body of [0,0,0,…] is 5 million numbers: about 120 MiB of Lua
// data. req:body_json in a handler limited to 8 MiB stops with the memory
// error after building about that much, instead of building it all and
// returning normally.
func TestBodyJSONStopsAtTheBudget(t *testing.T) {
	inChild(t, func(t *testing.T) {
		const budget = 8 << 20
		e := newEnv(t, &luart.Options{HandlerMemory: budget})
		h := e.function("app:bodyjson", `local http = require("http")
return { handler = function()
    local v, err = http.request():body_json()
    http.response():write(tostring(v and #v or err))
end }`, "http")
		body := "[" + strings.Repeat("0,", 5<<20-2) + "0]"
		before := allocated()
		w := serve(h, "POST", "/", body)
		used := allocated() - before
		if w.Code != 500 || !strings.Contains(e.logs.String(), "memory limit exceeded") {
			t.Fatalf("status %d, body %.200q; want 500 and the memory error in the log:\n%.2000s", w.Code, w.Body.String(), e.logs.String())
		}
		// Reading the body takes about 3 × its size (io.ReadAll grows its
		// buffer); the decoder, the budget plus what a table's growth leaves
		// behind (the same again) and the measurements.
		if limit := uint64(3*len(body) + 6*budget); used > limit {
			t.Fatalf("the call allocated %d MiB, more than %d MiB for an %d MiB budget", used>>20, limit>>20, budget>>20)
		}
		t.Logf("allocated %d MiB", used>>20)
	})
}

// handlerAlloc serves one GET with a handler of code (modules http and
// json and logger, budget bytes) in the env, and returns the response and
// the bytes allocated while it ran.
func handlerAlloc(t *testing.T, budget int64, code string) (e *env, status int, body string, used uint64) {
	t.Helper()
	e = newEnv(t, &luart.Options{HandlerMemory: budget})
	h := e.function("app:h", `local http, json, logger = require("http"), require("json"), require("logger")
local res = http.response()
return { handler = function()
`+code+`
end }`, "http", "json", "logger")
	before := allocated()
	w := serve(h, "GET", "/", "")
	return e, w.Code, w.Body.String(), allocated() - before
}

// print of 5,000 references to one 16 MiB string: the line is cut at 8
// KiB, and that is all that is built (joining the arguments first asked
// Go for 80 GB: a fatal out-of-memory, hence the child process).
func TestPrintIsBuiltUpToTheCut(t *testing.T) {
	inChild(t, func(t *testing.T) {
		e, status, body, used := handlerAlloc(t, 32<<20, `
    local s, t = ("x"):rep(16 * 1048576), {}
    for i = 1, 5000 do t[i] = s end
    print(unpack(t))
    res:write("printed")`)
		if status != 200 || body != "printed" || !strings.Contains(e.logs.String(), "…(cut)") {
			t.Fatalf("status %d, body %q; log:\n%.1000s", status, body, e.logs.String())
		}
		// The 16 MiB string, the table and the stack (5,000 slots each).
		if used > 24<<20 {
			t.Fatalf("the call allocated %d MiB", used>>20)
		}
		t.Logf("allocated %d MiB", used>>20)
	})
}

// A logger field holding one 1 MiB string of control bytes six times is a
// 6 MiB value but 36 MiB of JSON: only the 8 KiB shown are built.
func TestLoggerFieldIsBuiltUpToTheCut(t *testing.T) {
	inChild(t, func(t *testing.T) {
		e, status, _, used := handlerAlloc(t, 32<<20, `
    local s = ("\1"):rep(1048576)
    logger.info("big", {f = {s, s, s, s, s, s}})`)
		if status != 200 || !strings.Contains(e.logs.String(), `f="[\"\\u0001`) || !strings.Contains(e.logs.String(), "…(cut)") {
			t.Fatalf("status %d; log:\n%.1000s", status, e.logs.String())
		}
		if used > 6<<20 {
			t.Fatalf("the call allocated %d MiB", used>>20)
		}
		t.Logf("allocated %d MiB", used>>20)
	})
}

// json.encode of that value in a handler limited to 8 MiB: the text
// would be 36 MiB; the encoder stops at the budget with the memory error.
func TestJSONEncodeStopsAtTheBudget(t *testing.T) {
	inChild(t, func(t *testing.T) {
		const budget = 8 << 20
		_, status, body, used := handlerAlloc(t, budget, `
    local s = ("\1"):rep(1048576)
    local ok, err = pcall(json.encode, {s, s, s, s, s, s})
    res:write(tostring(ok) .. " " .. tostring(err))`)
		if status != 200 || !strings.Contains(body, "false") || !strings.Contains(body, "json.encode: memory limit exceeded: the JSON text would be larger than the limit of 8388608 bytes") {
			t.Fatalf("status %d, body %.300q", status, body)
		}
		// The string, the value's lists, and the text up to the budget with
		// what its growth leaves behind.
		if limit := uint64(1<<20 + 3*budget); used > limit {
			t.Fatalf("the call allocated %d MiB, more than %d MiB", used>>20, limit>>20)
		}
		t.Logf("allocated %d MiB", used>>20)
	})
}

// 21 small tables that hold each other twice are a million values once
// copied: process.send refuses them before copying any, in a handler
// limited to 8 MiB.
func TestSendOfSharedTablesIsRefusedBeforeCopying(t *testing.T) {
	inChild(t, func(t *testing.T) {
		_, status, body, used := handlerAlloc(t, 8<<20, `
    local t = {("x"):rep(100)}
    for i = 1, 20 do t = {t, t} end
    local ok, err = pcall(process.send, "nobody", "t", t)
    res:write(tostring(ok) .. " " .. tostring(err))`)
		if status != 200 || !strings.Contains(body, "false") || !strings.Contains(body, "would be over 8 MiB once copied") {
			t.Fatalf("status %d, body %.300q", status, body)
		}
		if used > 1<<20 {
			t.Fatalf("the refusal allocated %d KiB: the value was copied before it was refused", used>>10)
		}
		t.Logf("allocated %d KiB", used>>10)
	})
}

// Names live outside the Lua state, where no budget sees them: a process
// registering names in a loop gets false and an error past 64 names, and
// a name of a megabyte is refused (at most 256 bytes).
func TestRegistryNamesAreBounded(t *testing.T) {
	e := newEnv(t, nil)
	r := e.run(`return { main = function()
    local ok, err = process.registry.register(("n"):rep(1048576))
    local long = tostring(ok) .. " " .. err
    local n, last
    for i = 1, 1000 do
        local ok, err = process.registry.register("name" .. i)
        if not ok then n, last = i - 1, err break end
    end
    return long .. "|" .. tostring(n) .. "|" .. tostring(last)
end }`)
	v := ok(t, r)
	got, _ := v.Text()
	for _, want := range []string{"false process: register", "a name must be at most 256 bytes, got 1048576", "|64|", "holds 64 names already, the limit of a process"} {
		if !strings.Contains(got, want) {
			t.Errorf("the process returned %.400q; want it to contain %q", got, want)
		}
	}
	if len(got) > 1000 {
		t.Errorf("the errors are %d bytes long: the long name is in them", len(got))
	}
}

// Each msg:payload():data() makes a new Lua copy of the payload: a
// process keeping copies of a 200,000-item message stops with the memory
// error at its 16 MiB budget, instead of making them all (the copies were
// not charged, and the charges of the loop itself never reached a
// measurement).
func TestPayloadCopiesAreCharged(t *testing.T) {
	inChild(t, func(t *testing.T) {
		e := newEnv(t, &luart.Options{ProcessMemory: 16 << 20})
		before := allocated()
		r := e.run(`return { main = function()
    local list = {}
    for i = 1, 200000 do list[i] = i end
    process.send(process.pid(), "big", list)
    list = nil
    local msg = process.inbox():receive()
    local copies = {}
    for i = 1, 100 do copies[i] = msg:payload():data() end
    return #copies
end }`)
		used := allocated() - before
		memoryError(t, r)
		if used > 96<<20 {
			t.Fatalf("the process allocated %d MiB with a budget of 16 MiB", used>>20)
		}
		t.Logf("allocated %d MiB", used>>20)
	})
}

// req:body() is one string per request: a loop keeping a thousand of
// them holds one body, not a thousand copies nobody charged.
func TestRequestBodyIsOneString(t *testing.T) {
	inChild(t, func(t *testing.T) {
		e := newEnv(t, &luart.Options{HandlerMemory: 8 << 20})
		h := e.function("app:body", `local http = require("http")
return { handler = function()
    local req, t = http.request(), {}
    for i = 1, 1000 do t[i] = req:body() end
    http.response():write(#t .. " " .. #t[1000])
end }`, "http")
		body := strings.Repeat("b", 1<<20)
		before := allocated()
		w := serve(h, "POST", "/", body)
		used := allocated() - before
		if w.Code != 200 || w.Body.String() != "1000 1048576" {
			t.Fatalf("status %d, body %.300q", w.Code, w.Body.String())
		}
		if used > 32<<20 {
			t.Fatalf("the call allocated %d MiB for a body of 1 MiB", used>>20)
		}
		t.Logf("allocated %d MiB", used>>20)
	})
}

// A response's headers live in Go's header map, where no budget sees
// them: at most 100 of them, 64 KiB in all, with a Lua error past that.
func TestResponseHeadersAreBounded(t *testing.T) {
	e := newEnv(t, nil)
	h := e.function("app:headers", `local http = require("http")
return { handler = function()
    local res = http.response()
    local ok, many = pcall(function() for i = 1, 100000 do res:header("X-H" .. i, "v") end end)
    local ok2, big = pcall(res.header, res, "X-H1", ("v"):rep(1048576))
    res:write(tostring(ok) .. "|" .. many .. "|" .. tostring(ok2) .. "|" .. big)
end }`, "http")
	w := serve(h, "GET", "/", "")
	got := w.Body.String()
	for _, want := range []string{"false|", "res:header: the response has 100 headers already, the limit", "res:header: the response's headers would be 1049", "over the limit of 65536"} {
		if !strings.Contains(got, want) {
			t.Errorf("the handler answered %.500q; want %q in it", got, want)
		}
	}
	if n := len(w.Header()); n > 100 {
		t.Errorf("the response has %d headers", n)
	}
}

// Error texts are made anew at every call, outside the charges of the
// budget: one that quoted a script's 1 MiB name in full would cost a
// megabyte a call. They quote its first 64 bytes.
func TestErrorsQuoteLongArgumentsCut(t *testing.T) {
	e := newEnv(t, nil)
	r := e.run(`return { main = function()
    local name = ("n"):rep(1048576)
    local _, a = process.registry.lookup(name)
    local _, b = process.send(name, "t", 1)
    local _, c = process.registry.unregister(name)
    local _, d = pcall(process.registry.register, "x", nil, name)
    return #a .. " " .. #b .. " " .. #c .. " " .. #d
end }`)
	v := ok(t, r)
	got, _ := v.Text()
	for _, n := range strings.Fields(got) {
		if len(n) > 3 { // at most 999 bytes
			t.Fatalf("error texts of %s bytes: a long argument is quoted in full", got)
		}
	}
}

// What one handler call sends stays in other processes' mailboxes after
// the call: the copies it makes add up against its memory budget, so ten
// sends of a 4 MB list from a handler limited to 8 MiB stop at the second.
func TestHandlerSendsAddUp(t *testing.T) {
	e := newEnv(t, &luart.Options{HandlerMemory: 8 << 20})
	pr := e.probe()
	h := e.function("app:fanout", `local http = require("http")
return { handler = function()
    local list = {}
    for i = 1, 100000 do list[i] = i end
    local sent, err = 0, nil
    for i = 1, 10 do
        local ok, e = pcall(process.send, "`+pr.PID.String()+`", "t", list)
        if not ok then err = e break end
        sent = sent + 1
    end
    http.response():write(sent .. "|" .. tostring(err))
end }`, "http")
	w := serve(h, "GET", "/", "")
	got := w.Body.String()
	if !strings.HasPrefix(got, "2|") || !strings.Contains(got, "the values this call sent add up to 12") || !strings.Contains(got, "more than its memory budget of 8388608 bytes") {
		t.Fatalf("status %d, body %.400q; want two sends, then the refusal", w.Code, got)
	}
	// The next call starts afresh.
	if got := serve(h, "GET", "/", "").Body.String(); !strings.HasPrefix(got, "2|") {
		t.Fatalf("a second call: %.400q", got)
	}
}
