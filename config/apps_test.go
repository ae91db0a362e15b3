package config_test

import (
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
	for _, want := range []string{
		`_index.yaml:10: entry app:handler: imports.json: json is also listed under modules; require("json") can give only one of them`,
		`_index.yaml:11: entry app:handler: imports.missing: refers to app:nowhere, which is not defined (expected an entry of kind library.lua)`,
		`_index.yaml:12: entry app:handler: imports.proc: refers to app:proc, which is of kind process.lua, not library.lua`,
		`imports.bad name: "bad name" is not an import name`,
		`entry app:lib_a: method: unknown field for kind library.lua`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
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
	for _, want := range []string{
		`entry app:os: path: unknown field for kind env.storage.os`,
		`entry app:chain: storages: missing; list the storages to read, in order`,
		`entry app:b: variable: PORT is also the variable of app:a (_index.yaml:6); a public name is unique`,
		`entry app:c: variable: "bad-name" is not a variable name`,
		`entry app:d: storage: refers to app:port, which is not defined (expected an entry of kind env.storage.os or env.storage.static or env.storage.memory or env.storage.router)`,
		`entry app:e: values.a b: "a b" is not a variable name`,
		`entry app:f: kind: unknown kind "env.storage.file"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
