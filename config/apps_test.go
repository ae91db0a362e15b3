package config_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/config"
)

// Shared Lua code: library.lua entries and imports.
func TestLibraryImports(t *testing.T) {
	app, err := load(t, map[string]string{
		"_index.yaml": `version: "1.0"
namespace: app
entries:
  - name: handler
    kind: function.lua
    source: file://h.lua
    method: main
    imports:
      helpers: app.lib:helpers
      base: app.lib:base
`,
		"lib/_index.yaml": `version: "1.0"
namespace: app.lib
entries:
  - name: helpers
    kind: library.lua
    source: file://helpers.lua
    modules: [json]
    imports: {base: base}
  - name: base
    kind: library.lua
    source: file://base.lua
`,
		"h.lua": "return {}", "lib/helpers.lua": "return {}", "lib/base.lua": "return {}",
	})
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, e := range app.Entries {
		order = append(order, e.ID)
	}
	if got := strings.Join(order, " "); got != "app.lib:base app.lib:helpers app:handler" {
		t.Errorf("order %s: a library must come before what imports it", got)
	}
	h, _ := app.Entry("app.lib:helpers")
	lib := h.Spec.(*config.LibraryLua)
	if lib.Imports["base"] != "app.lib:base" || lib.File != "lib/helpers.lua" || lib.Modules[0] != "json" {
		t.Errorf("library %+v", lib)
	}
}

func TestLibraryImportProblems(t *testing.T) {
	_, err := load(t, map[string]string{
		"_index.yaml": `version: "1.0"
namespace: app
entries:
  - name: handler
    kind: function.lua
    source: file://h.lua
    method: main
    modules: [json]
    imports:
      json: lib_a
      missing: nowhere
      proc: proc
      "bad name": lib_a
  - name: proc
    kind: process.lua
    source: file://h.lua
    method: main
  - name: lib_a
    kind: library.lua
    source: file://h.lua
    method: main
    imports: {b: lib_b}
  - name: lib_b
    kind: library.lua
    source: file://h.lua
    imports: {a: lib_a}
`,
		"h.lua": "return {}",
	})
	expectErrors(t, err,
		`_index.yaml:10: entry app:handler: imports.json: json is also listed under modules; require("json") can give only one of them`,
		`_index.yaml:11: entry app:handler: imports.missing: refers to app:nowhere, which is not defined (expected an entry of kind library.lua)`,
		`_index.yaml:12: entry app:handler: imports.proc: refers to app:proc, which is of kind process.lua, not library.lua`,
		`imports.bad name: "bad name" is not an import name`,
		`entry app:lib_a: method: unknown field for kind library.lua`,
	)
	// Without the other problems, the cycle is reported.
	_, err = load(t, map[string]string{
		"_index.yaml": `version: "1.0"
namespace: app
entries:
  - {name: lib_a, kind: library.lua, source: file://h.lua, imports: {b: lib_b}}
  - {name: lib_b, kind: library.lua, source: file://h.lua, imports: {a: lib_a}}
`,
		"h.lua": "return {}",
	})
	if err == nil || !strings.Contains(err.Error(), "dependency cycle: app:lib_a -> app:lib_b -> app:lib_a") {
		t.Errorf("no cycle reported: %v", err)
	}
}

func TestEnvEntries(t *testing.T) {
	t.Setenv("WSRELAY_TEST_SECRET", "s3cret")
	app, err := load(t, map[string]string{"_index.yaml": `version: "1.0"
namespace: app
entries:
  - {name: os, kind: env.storage.os}
  - {name: chain, kind: env.storage.router, storages: [os, app.defaults:static]}
  - {name: port, kind: env.variable, variable: PORT, storage: chain, default: "8080"}
  - {name: key, kind: env.variable, storage: os, readonly: true}
  - name: plugin
    kind: registry.entry
    meta: {type: plugin}
    token: "${env:WSRELAY_TEST_SECRET}"
    anything: {goes: [here]}
  - {name: secrets, kind: env.storage.static, values: {TOKEN: "${env:WSRELAY_TEST_SECRET}"}}
`, "defaults/_index.yaml": `version: "1.0"
namespace: app.defaults
entries:
  - {name: static, kind: env.storage.static, values: {PORT: "80"}}
`})
	if err != nil {
		t.Fatal(err)
	}
	port, _ := app.Entry("app:port")
	if v := port.Spec.(*config.EnvVariable); v.Key != "PORT" || v.Storage != "app:chain" || *v.Default != "8080" {
		t.Errorf("port %+v", v)
	}
	key, _ := app.Entry("app:key")
	if v := key.Spec.(*config.EnvVariable); v.Key != "key" || !v.ReadOnly {
		t.Errorf("a variable with no public name is kept under its entry name: %+v", v)
	}
	plugin, _ := app.Entry("app:plugin")
	if plugin.Data["token"] != "${env:WSRELAY_TEST_SECRET}" || plugin.Data["anything"] == nil || plugin.Meta["type"] != "plugin" {
		t.Errorf("registry entry data %v (the environment's values stay out of it)", plugin.Data)
	}
	secrets, _ := app.Entry("app:secrets")
	if v := secrets.Spec.(*config.EnvStorageStatic).Values["TOKEN"]; v != "s3cret" {
		t.Errorf("static value %q, want the expanded s3cret", v)
	}
	if d := secrets.Data["values"]; !reflect.DeepEqual(d, map[string]any{"TOKEN": "${env:WSRELAY_TEST_SECRET}"}) {
		t.Errorf("env entry data %v (the environment's values stay out of it)", d)
	}

	_, err = load(t, map[string]string{"_index.yaml": `version: "1.0"
namespace: app
entries:
  - {name: os, kind: env.storage.os, path: x}
  - {name: chain, kind: env.storage.router}
  - {name: a, kind: env.variable, variable: PORT, storage: os}
  - {name: b, kind: env.variable, variable: PORT, storage: os}
  - {name: c, kind: env.variable, variable: "bad-name", storage: os}
  - {name: d, kind: env.variable, storage: port}
  - {name: e, kind: env.storage.static, values: {"a b": x}}
  - {name: f, kind: env.storage.file, file_path: /etc/x.env}
`})
	expectErrors(t, err,
		`entry app:os: path: unknown field for kind env.storage.os`,
		`entry app:chain: storages: missing; list the storages to read, in order`,
		`entry app:b: variable: PORT is also the variable of app:a (_index.yaml:6); a public name is unique`,
		`entry app:c: variable: "bad-name" is not a variable name`,
		`entry app:d: storage: refers to app:port, which is not defined (expected an entry of kind env.storage.os or env.storage.static or env.storage.memory or env.storage.router or env.storage.file)`,
		`entry app:e: values.a b: "a b" is not a variable name`,
		`entry app:f: file_path: /etc/x.env does not exist (auto_create: true starts with an empty file)`,
	)
}

// env.storage.file: the .env file is read as the app loads, its values
// reach ${env:} references, and a bad file is reported with its line.
func TestEnvFileStorage(t *testing.T) {
	const entries = `version: "1.0"
namespace: app
entries:
  - {name: file, kind: env.storage.file, file_path: conf/app.env}
  - {name: port, kind: env.variable, variable: PORT, storage: file}
  - {name: greeting, kind: env.variable, storage: file}
  - {name: gw, kind: http.service, addr: "127.0.0.1:${env:PORT}"}
  - name: plugin
    kind: registry.entry
    words: ["${env:app:greeting}", "${env:app:greeting|x}"]
`
	app, err := load(t, map[string]string{"_index.yaml": entries, "conf/app.env": "# settings\n\nPORT = 8181\r\ngreeting=\"  hi there  \"\nEMPTY=\n"})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := app.Entry("app:file")
	st := f.Spec.(*config.EnvStorageFile)
	if st.Values["PORT"] != "8181" || st.Values["greeting"] != "  hi there  " || st.Values["EMPTY"] != "" || len(st.Values) != 3 || st.Path != "conf/app.env" || !st.Local || *st.FileMode != 0o644 {
		t.Errorf("file storage %+v", st)
	}
	gw, _ := app.Entry("app:gw")
	if a := gw.Spec.(*config.HTTPService).Addr; a != "127.0.0.1:8181" {
		t.Errorf("addr %q: ${env:PORT} reads the variable PORT from its file", a)
	}

	for _, c := range []struct{ file, want string }{
		{"PORT=1\nnothing here\n", "conf/app.env:2: not NAME=value"},
		{"PORT=1\nPORT=2\n", "conf/app.env:2: PORT is also set on line 1"},
		{"\n\nbad-name=1\n", `conf/app.env:3: "bad-name" is not a variable name`},
		{"=1\n", "conf/app.env:1: the name before '=' is empty"},
		{"BIG=" + strings.Repeat("x", config.MaxEnvValueSize+1) + "\n", "conf/app.env:1: the value of BIG is more than 65536 bytes"},
		{strings.Repeat("#", config.MaxEnvFileSize+1), "conf/app.env: the file is more than 1048576 bytes"},
	} {
		_, err := load(t, map[string]string{"_index.yaml": entries, "conf/app.env": c.file})
		expectErrors(t, err, "entry app:file: file_path: "+c.want)
	}
	_, err = load(t, map[string]string{"_index.yaml": `version: "1.0"
namespace: app
entries:
  - {name: a, kind: env.storage.file, file_path: ../x.env}
  - {name: b, kind: env.storage.file, file_path: missing.env, auto_create: true, file_mode: 0o1777}
  - {name: c, kind: env.storage.file, file_path: /dev/stdin}
  - {name: d, kind: env.storage.file, file_path: ., auto_create: true}
`})
	expectErrors(t, err,
		`entry app:a: file_path: "../x.env" points outside the app directory`,
		`entry app:b: file_mode: 01777 is not a permission (0000 to 0777)`,
		`entry app:c: file_path: cannot read /dev/stdin: /dev/stdin is not a regular file`,
		`entry app:d: file_path: cannot read .: . is not a regular file`)
}

// ${env:NAME} references read env.variable entries (public name or id,
// through their storage, then their own default) before the process
// environment, with the defaults written :-, | or as ${NAME|default}.
func TestEnvReferencesReadVariables(t *testing.T) {
	t.Setenv("WSRELAY_TEST_HOST", "10.0.0.1")
	t.Setenv("WSRELAY_TEST_ONLY_OS", "from-os")
	app, err := load(t, map[string]string{"_index.yaml": `version: "1.0"
namespace: app
entries:
  - {name: os, kind: env.storage.os}
  - {name: static, kind: env.storage.static, values: {PORT: "9001", WSRELAY_TEST_HOST: "static-host"}}
  - {name: chain, kind: env.storage.router, storages: [os, static]}
  - {name: port, kind: env.variable, variable: PORT, storage: chain}
  - {name: host, kind: env.variable, variable: HOST, storage: chain, default: "unused"}
  - {name: mem, kind: env.variable, variable: MEM, storage: memory, default: "from-default"}
  - {name: memory, kind: env.storage.memory}
  - {name: nodefault, kind: env.variable, variable: NOPE, storage: memory}
  - name: r
    kind: http.router
    meta: {server: gw}
    options:
     a: "${env:PORT}"
     b: "${env:app:port|1}"
     c: "${PORT|1}"
     d: "${env:MEM|inline}"
     e: "${env:NOPE|inline}"
     f: "${env:NOPE:-inline2}"
     g: "${env:WSRELAY_TEST_ONLY_OS|x}/${WSRELAY_TEST_UNSET_X|y}/${env:WSRELAY_TEST_UNSET_X|}"
     h: "${KEEP}/$${env:PORT}/${lower|x}"
     i: ${env:PORT|1}
     j: "${env:WSRELAY_TEST_HOST|x}"
  - name: gw
    kind: http.service
    addr: "127.0.0.1:0"
    lifecycle:
      auto_start: ${env:NOPE|false}
  - name: gw2
    kind: http.service
    addr: "127.0.0.1:0"
    lifecycle:
      auto_start: ${AUTO|false}
`})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"app:gw", "app:gw2"} {
		if gw, _ := app.Entry(id); gw.Spec.(*config.HTTPService).Lifecycle.Started() {
			t.Errorf("%s: auto_start: ${...|false} (unquoted) should be the boolean false", id)
		}
	}
	r, _ := app.Entry("app:r")
	got := r.Spec.(*config.HTTPRouter).Opts
	want := map[string]string{
		"a": "9001", "b": "9001", "c": "9001", "d": "from-default", "e": "inline", "f": "inline2",
		"g": "from-os/y/", "h": "${KEEP}/${env:PORT}/${lower|x}", "i": "9001", "j": "10.0.0.1",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %#v, want %#v", k, got[k], w)
		}
	}

	_, err = load(t, map[string]string{"_index.yaml": `version: "1.0"
namespace: app
entries:
  - {name: memory, kind: env.storage.memory}
  - {name: nodefault, kind: env.variable, variable: NOPE, storage: memory}
  - {name: gw, kind: http.service, addr: "${env:NOPE}"}
  - {name: gw2, kind: http.service, addr: "${env:app:nodefault}"}
`})
	expectErrors(t, err,
		"_index.yaml:6: variable NOPE (app:nodefault) has no value: its storage has no NOPE and it has no default",
		"_index.yaml:7: variable app:nodefault (app:nodefault) has no value")
}

// The original runtime's lifecycle fields: depends_on orders start-up;
// the timeouts are checked.
func TestLifecycleDependsOn(t *testing.T) {
	app, err := load(t, map[string]string{"_index.yaml": `version: "1.0"
namespace: app
entries:
  - name: hub
    kind: process.service
    process: proc
    host: processes
    lifecycle:
      auto_start: true
      depends_on: [store]
      start_timeout: 10s
      stop_timeout: 10s
      stable_threshold: 5s
      restart: {max_attempts: 3}
  - name: store
    kind: process.service
    process: proc
    host: processes
  - {name: processes, kind: process.host, lifecycle: {depends_on: []}}
  - {name: proc, kind: process.lua, source: file://p.lua, method: main}
  - {name: gw, kind: http.service, addr: ":0", lifecycle: {depends_on: [app:hub]}}
`, "p.lua": "return {main = function() end}"})
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, e := range app.Entries {
		pos[e.ID] = i
	}
	if pos["app:store"] > pos["app:hub"] || pos["app:hub"] > pos["app:gw"] {
		t.Errorf("order %v: depends_on must start what it names first", pos)
	}
	_, err = load(t, map[string]string{"_index.yaml": `version: "1.0"
namespace: app
entries:
  - {name: a, kind: process.service, process: proc, host: h, lifecycle: {depends_on: [b], stop_timeout: soon}}
  - {name: b, kind: process.service, process: proc, host: h, lifecycle: {depends_on: [a]}}
  - {name: c, kind: process.service, process: proc, host: h, lifecycle: {depends_on: [proc, app:database]}}
  - {name: h, kind: process.host}
  - {name: proc, kind: process.lua, source: file://p.lua, method: main}
`, "p.lua": "return {main = function() end}"})
	expectErrors(t, err,
		`entry app:a: lifecycle.stop_timeout: bad duration "soon"`,
		`entry app:c: lifecycle.depends_on: refers to app:proc, which is of kind process.lua, not http.service or process.host or process.service`,
		`entry app:c: lifecycle.depends_on: refers to app:database, which is not defined`,
	)
}

// Security entries are refused with one line saying where to look.
func TestSecurityRefused(t *testing.T) {
	_, err := load(t, map[string]string{"_index.yaml": `version: "1.0"
namespace: app
entries:
  - name: policy
    kind: security.policy
    policy: {actions: "*", effect: allow}
`})
	want := `_index.yaml:5: entry app:policy: kind: security.policy: wsrelay has no security module; docs/porting.md (Security) shows how to port it by hand`
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "known kinds") {
		t.Errorf("error %v, want %q alone", err, want)
	}
	_, err = load(t, map[string]string{"_index.yaml": `version: "1.0"
namespace: app
entries:
  - {name: h, kind: process.host}
  - {name: p, kind: process.lua, source: file://p.lua, method: main}
  - name: s
    kind: process.service
    process: p
    host: h
    lifecycle:
      security: {actor: {id: x}}
`, "p.lua": "return {main = function() end}"})
	want = `_index.yaml:11: entry app:s: lifecycle.security: wsrelay has no security module; docs/porting.md (Security) shows how to port it by hand`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want %q", err, want)
	}
}

// A component: a folder with an ns.definition; its requirements' values,
// from the app's ns.dependency or their defaults, are written into their
// targets before the entries are checked.
func TestComponents(t *testing.T) {
	files := map[string]string{
		"_index.yaml": `version: "1.0"
namespace: app
entries:
  - {name: gw, kind: http.service, addr: ":0"}
  - {name: api, kind: http.router, meta: {server: gw}}
  - {name: processes, kind: process.host}
  - name: dep.relay
    kind: ns.dependency
    component: wippy/relay
    version: "^0.1.0"
    parameters:
      - name: application_host
        value: app:processes
      - name: router
        value: app:api
`,
		"vendor/wippy/relay/_index.yaml": `version: "1.0"
namespace: wippy.relay
entries:
  - name: definition
    kind: ns.definition
    meta: {title: Relay}
  - name: application_host
    kind: ns.requirement
    targets:
      - {entry: hub.service, path: .host}
  - name: router
    kind: ns.requirement
    targets:
      - {entry: join, path: .meta.router}
  - name: extra_middleware
    kind: ns.requirement
    default: cors
    targets:
      - {entry: wippy.relay:extra, path: ".middleware +="}
  - {name: extra, kind: registry.entry, middleware: [a]}
  - {name: hub, kind: process.lua, source: file://hub.lua, method: main}
  - {name: hub.service, kind: process.service, process: hub}
  - {name: join, kind: http.endpoint, method: GET, path: /join, func: join_fn}
  - {name: join_fn, kind: function.lua, source: file://hub.lua, method: main}
`,
		"vendor/wippy/relay/hub.lua": "return {main = function() end}",
	}
	app, err := load(t, files)
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := app.Entry("wippy.relay:hub.service")
	if h := svc.Spec.(*config.ProcessService).Host; h != "app:processes" {
		t.Errorf("host %q", h)
	}
	join, _ := app.Entry("wippy.relay:join")
	if r := join.Spec.(*config.HTTPEndpoint).Router; r != "app:api" {
		t.Errorf("router %q", r)
	}
	extra, _ := app.Entry("wippy.relay:extra")
	if m := extra.Data["middleware"].([]any); len(m) != 2 || m[1] != "cors" {
		t.Errorf("appended: %v", m)
	}

	// A missing required parameter is reported at the dependency.
	files["_index.yaml"] = strings.Replace(files["_index.yaml"], "      - name: application_host\n        value: app:processes\n", "", 1)
	_, err = load(t, files)
	want := `_index.yaml:12: entry app:dep.relay: parameters: missing parameter application_host: the component's requirement wippy.relay:application_host (vendor/wippy/relay/_index.yaml:7) has no default`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error lacks %q:\n%v", want, err)
	}
	files["_index.yaml"] = strings.Replace(files["_index.yaml"], "component: wippy/relay", "component: wippy/nope", 1) + "      - {name: nope, value: x}\n"
	_, err = load(t, files)
	if err == nil || !strings.Contains(err.Error(), "entry app:dep.relay: component: no component wippy/nope in the app") {
		t.Errorf("unknown component: %v", err)
	}
	// A component folder without an ns.definition (older components).
	files["_index.yaml"] = strings.Replace(files["_index.yaml"], "component: wippy/nope", "component: wippy/relay", 1)
	files["_index.yaml"] = strings.Replace(files["_index.yaml"], "      - {name: nope, value: x}\n", "      - {name: application_host, value: app:processes}\n", 1)
	files["vendor/wippy/relay/_index.yaml"] = strings.Replace(files["vendor/wippy/relay/_index.yaml"], "  - name: definition\n    kind: ns.definition\n    meta: {title: Relay}\n", "", 1)
	if _, err := load(t, files); err != nil {
		t.Errorf("a component without ns.definition: %v", err)
	}
}

// expectErrors checks that err names every one of wants.
func expectErrors(t *testing.T, err error, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
