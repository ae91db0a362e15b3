package main

import (
	"strings"
	"testing"
)

// TestCheckSharedCode: an app sharing code through library.lua and
// imports checks clean; a require of what an entry does not declare is a
// problem with its file and line, whether the module exists or not.
func TestCheckSharedCode(t *testing.T) {
	files := map[string]string{
		"_index.yaml": `version: "1.0"
namespace: app
entries:
  - {name: gw, kind: http.service, addr: "127.0.0.1:0"}
  - {name: api, kind: http.router, meta: {server: gw}}
  - {name: ep, kind: http.endpoint, meta: {router: api}, method: GET, path: /, func: fn}
  - name: fn
    kind: function.lua
    source: file://fn.lua
    method: handler
    modules: [http]
    imports: {greet: app.lib:greet}
`,
		"lib/_index.yaml": `version: "1.0"
namespace: app.lib
entries:
  - {name: greet, kind: library.lua, source: file://greet.lua, modules: [json]}
`,
		"fn.lua":        "local http = require('http')\nlocal greet = require('greet')\nreturn { handler = function() http.response():write(greet.hello('x')) end }",
		"lib/greet.lua": "local json = require('json')\nreturn { hello = function(n) return json.encode({hello = n}) end }",
	}
	if code, out, errOut := runCmd("check", writeApp(t, files)); code != 0 || !strings.Contains(out, ": ok") {
		t.Fatalf("check: %d %q %q", code, out, errOut)
	}
	files["fn.lua"] = "local http = require('http')\nlocal greet = require('greet')\n\nlocal sql = require('sql')\nreturn { handler = function() end }"
	files["lib/greet.lua"] = "local json = require('json')\nlocal time = require('time')\nreturn {}"
	code, _, errOut := runCmd("check", writeApp(t, files))
	for _, want := range []string{
		`fn.lua:4: entry app:fn: source: require("sql"): wsrelay has no module "sql" and entry app:fn imports no library of that name`,
		`lib/greet.lua:2: entry app.lib:greet: source: require("time"): module "time" is not listed in the modules of entry app.lib:greet (add it to modules:)`,
	} {
		if code != 1 || !strings.Contains(errOut, want) {
			t.Errorf("check: exit %d, output lacks %q:\n%s", code, want, errOut)
		}
	}
}

// TestCheckOriginalFields: the relay listed under a router's middleware
// (as the original runtime's apps list it) is accepted and still runs
// after routing; a security module is refused in one line.
func TestCheckOriginalFields(t *testing.T) {
	files := map[string]string{
		"_index.yaml": `version: "1.0"
namespace: app
entries:
  - {name: gw, kind: http.service, addr: "127.0.0.1:0"}
  - name: ws
    kind: http.router
    meta: {server: gw}
    prefix: /ws
    middleware: [cors, websocket_relay]
    options: {cors.allow.origins: "*", wsrelay.allowed.origins: "*"}
  - {name: ep, kind: http.endpoint, meta: {router: ws}, method: GET, path: /, func: fn}
  - {name: fn, kind: function.lua, source: file://fn.lua, method: handler, modules: [http]}
`,
		"fn.lua": "local http = require('http')\nreturn { handler = function() http.response():set_header('X-WS-Relay', '{}') end }",
	}
	if code, out, errOut := runCmd("check", writeApp(t, files)); code != 0 || !strings.Contains(out, ": ok") || strings.Contains(out, "warning") {
		t.Errorf("check: %d %q %q", code, out, errOut)
	}
	files["fn.lua"] = "local http = require('http')\nlocal security = require('security')\nreturn { handler = function() end }"
	code, _, errOut := runCmd("check", writeApp(t, files))
	if want := `fn.lua:2: entry app:fn: source: require("security"): wsrelay has no security module; docs/porting.md (Security) shows how to port it by hand`; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("check: %d, output lacks %q:\n%s", code, want, errOut)
	}
}
