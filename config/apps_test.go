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
