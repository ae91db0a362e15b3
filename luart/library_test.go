package luart_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/value"
)

func library(t *testing.T, id, code string, imports map[string]*luart.Program, modules ...string) *luart.Program {
	t.Helper()
	p, err := luart.Compile(luart.Source{ID: id, File: id + ".lua", Code: []byte(code), Modules: modules, Imports: imports, Kind: luart.KindLibrary})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A library is loaded once per state, with its own modules and imports
// and globals of its own; require gives what its chunk returned.
func TestLibraryImports(t *testing.T) {
	e := newEnv(t, nil)
	base := library(t, "app.lib:base", `
loads = (loads or 0) + 1
local json = require("json")
return { encode = function(v) return json.encode(v) end, loads = function() return loads end }`, nil, "json")
	flag := library(t, "app.lib:flag", `return nil`, nil)
	helpers := library(t, "app.lib:helpers", `
local base = require("base")
local M = {}
function M.greet(name) return base.encode({hello = name}) end
M.base = base
return M`, map[string]*luart.Program{"base": base})

	p, err := luart.Compile(luart.Source{ID: "app:main", File: "main.lua", Method: "main", Kind: luart.KindProcess,
		Imports: map[string]*luart.Program{"helpers": helpers, "base": base, "flag": flag},
		Code: []byte(`
return { main = function()
    local h = require("helpers")
    local b = require("base")
    return {h.greet("ann"), h.base == b, require("helpers") == h, b.loads(), require("flag"), loads == nil,
        pcall(require, "json")}
end }`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.rt.Add(p); err != nil {
		t.Fatal(err)
	}
	pr := e.probe()
	got := ok(t, pr.Await(e.spawnWatched(pr, p)))
	want := value.MustOf([]any{`{"hello":"ann"}`, true, true, 1, true, true, false,
		`main.lua:6: require("json"): module "json" is not listed in the modules of entry app:main (add it to modules:)`})
	if !value.Equal(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}

	// A handler loads its libraries again on every call, as it runs its
	// own file again: what one request writes in a library's table is not
	// seen by the next.
	hp, err := luart.Compile(luart.Source{ID: "app:fn", File: "fn.lua", Method: "handler", Kind: luart.KindFunction, Modules: []string{"http"},
		Imports: map[string]*luart.Program{"base": base},
		Code: []byte(`return { handler = function()
    local b = require("base")
    b.writes = (b.writes or 0) + 1
    require("http").response():write(b.loads() .. " " .. b.writes)
end }`)})
	if err != nil {
		t.Fatal(err)
	}
	h, err := e.rt.Handler(hp, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	for range 3 {
		if w := serve(h, "GET", "/", ""); w.Code != 200 || w.Body.String() != "1 1" {
			t.Fatalf("%d %q\n%s", w.Code, w.Body, e.logs)
		}
	}
}

// An error in a library's chunk is raised where it is required, with the
// library's file in the message.
func TestLibraryError(t *testing.T) {
	e := newEnv(t, nil)
	bad := library(t, "app.lib:bad", "local x = nil\nreturn x.field", nil)
	p, err := luart.Compile(luart.Source{ID: "app:user", File: "user.lua", Method: "main", Kind: luart.KindProcess,
		Imports: map[string]*luart.Program{"bad": bad},
		Code:    []byte(`return { main = function() local ok, err = pcall(require, "bad"); return err end }`)})
	if err != nil {
		t.Fatal(err)
	}
	e.rt.Add(p)
	pr := e.probe()
	got := ok(t, pr.Await(e.spawnWatched(pr, p)))
	if s, _ := got.Text(); !strings.Contains(s, "app.lib:bad.lua:2:") {
		t.Errorf("error = %v, want the library's file and line", got)
	}
}

// Compile reports each require of an undeclared module or import with its
// line, for modules that exist and for those that do not.
func TestCompileChecksRequires(t *testing.T) {
	lib := library(t, "app.lib:l", `return {}`, nil)
	for _, tc := range []struct {
		name, code string
		kind       luart.Kind
		want       []string
	}{
		{"known module not listed", "local x = 1\nlocal json = require('json')\nreturn {main = function() end}", luart.KindProcess,
			[]string{`f.lua:2: require("json"): module "json" is not listed in the modules of entry app:x (add it to modules:)`}},
		{"no such module", "local sql = require(\"sql\")\nlocal l = require(\"lib\")\nreturn {main = function() end}", luart.KindProcess,
			[]string{`f.lua:1: require("sql"): wsrelay has no module "sql"`, `imports no library of that name`}},
		{"misspelt import", "local l = require(\"lbi\")\nreturn {main = function() end}", luart.KindProcess,
			[]string{`f.lua:1: require("lbi")`}},
		{"http in a process", "return {main = function() local h = require('http') end}", luart.KindProcess,
			[]string{`f.lua:1: require("http"): module "http" serves requests and is only available to function.lua entries`}},
		{"in a nested function and a library", "local M = {}\nfunction M.f()\n  if true then\n    return require('time')\n  end\nend\nreturn M", luart.KindLibrary,
			[]string{`f.lua:4: require("time")`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := luart.Compile(luart.Source{ID: "app:x", File: "f.lua", Code: []byte(tc.code), Method: "main", Kind: tc.kind,
				Imports: map[string]*luart.Program{"lib": lib}})
			var re *luart.RequireError
			if !errors.As(err, &re) || !errors.Is(err, luart.ErrUnknownModule) {
				t.Fatalf("err = %v, want a RequireError", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
	// Declared ones, and a computed name, compile.
	if _, err := luart.Compile(luart.Source{ID: "app:x", File: "f.lua", Method: "main", Kind: luart.KindProcess, Modules: []string{"json"},
		Imports: map[string]*luart.Program{"lib": lib},
		Code:    []byte(`local a, b = require("json"), require("lib"); local n = "x"; return {main = function() return require(n) end}`)}); err != nil {
		t.Errorf("declared requires: %v", err)
	}
}

// A file several entries run may require, inside a function, what another
// of them declares (that function may be the other's method); at load
// time, it may not.
func TestCompileSharedFile(t *testing.T) {
	src := luart.Source{ID: "app:a", File: "f.lua", Method: "a", Kind: luart.KindProcess, SharedModules: []string{"time"},
		Code: []byte("local M = {}\nfunction M.a() end\nfunction M.b() return require('time') end\nreturn M")}
	if _, err := luart.Compile(src); err != nil {
		t.Errorf("a shared module required in a function: %v", err)
	}
	src.SharedModules = nil
	if _, err := luart.Compile(src); !errors.Is(err, luart.ErrUnknownModule) {
		t.Errorf("with no other entry declaring it: %v", err)
	}
	src.SharedModules = []string{"time"}
	src.Code = []byte("local time = require('time')\nreturn {a = function() end}")
	if _, err := luart.Compile(src); !errors.Is(err, luart.ErrUnknownModule) {
		t.Errorf("required at load time: %v", err)
	}
}

// A library may require what the entry running it declares (it runs in
// that entry's process), as the original runtime allows.
func TestLibraryUsesImporterModules(t *testing.T) {
	lib, err := luart.Compile(luart.Source{ID: "app.lib:clock", File: "clock.lua", Kind: luart.KindLibrary, SharedModules: []string{"time"},
		Code: []byte(`local time = require("time"); return {now = function() return time.now():unix() end}`)})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, nil)
	p, err := luart.Compile(luart.Source{ID: "app:user", File: "user.lua", Method: "main", Kind: luart.KindProcess, Modules: []string{"time"},
		Imports: map[string]*luart.Program{"clock": lib},
		Code:    []byte(`return { main = function() return require("clock").now() > 0 end }`)})
	if err != nil {
		t.Fatal(err)
	}
	e.rt.Add(p)
	pr := e.probe()
	if got := ok(t, pr.Await(e.spawnWatched(pr, p))); !value.Equal(got, value.Bool(true)) {
		t.Errorf("got %v", got)
	}
	// An importer that does not declare it: the error names the library.
	p2, _ := luart.Compile(luart.Source{ID: "app:user2", File: "user2.lua", Method: "main", Kind: luart.KindProcess,
		Imports: map[string]*luart.Program{"clock": lib},
		Code:    []byte(`return { main = function() return require("clock") end }`)})
	e.rt.Add(p2)
	r := pr.Await(e.spawnWatched(pr, p2))
	if r.Err == nil || !strings.Contains(r.Err.Error(), `module "time" is not listed in the modules of entry app.lib:clock`) {
		t.Errorf("error %v", r.Err)
	}
}
