package config_test

import (
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wsrelay/wsrelay/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func TestLoadValidApp(t *testing.T) {
	app, err := config.LoadDir("testdata/valid/app", config.StandardKinds())
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, e := range app.Entries {
		pos[e.ID] = i
	}
	// Dependency order: what an entry refers to comes first.
	for _, dep := range [][2]string{
		{"app:gateway", "app:api"}, {"app:api", "app:hello"}, {"app:hello_fn", "app:hello"},
		{"app:gateway", "app:files"}, {"app.ws:handler", "app:worker"}, {"app:processes", "app:worker"},
	} {
		if pos[dep[0]] >= pos[dep[1]] {
			t.Errorf("%s should come before %s: %v", dep[0], dep[1], ids(app.Entries))
		}
	}
	ep, _ := app.Entry("app:hello")
	hello := ep.Spec.(*config.HTTPEndpoint)
	if hello.Method != "GET" || hello.Router != "app:api" || hello.Func != "app:hello_fn" || hello.Path != "/hello/{name}" {
		t.Errorf("endpoint %+v", hello)
	}
	r, _ := app.Entry("app:api")
	router := r.Spec.(*config.HTTPRouter)
	if router.Server != "app:gateway" || router.Opts["cors.max.age"] != "600" || router.Opts["cors.allow.origins"] != "*" {
		t.Errorf("router %+v", router)
	}
	s, _ := app.Entry("app:gateway")
	svc := s.Spec.(*config.HTTPService)
	if svc.Timeouts.Read.Value != 5*time.Second || svc.Timeouts.Idle.Value != 120*time.Second {
		t.Errorf("timeouts %+v", svc.Timeouts)
	}
	f, _ := app.Entry("app:hello_fn")
	fn := f.Spec.(*config.FunctionLua)
	if fn.File != "hello.lua" || !strings.Contains(string(fn.Code), "http.response") || fn.Timeout.Value != 2*time.Second {
		t.Errorf("function %+v", fn)
	}
	w, _ := app.Entry("app:worker")
	worker := w.Spec.(*config.ProcessService)
	if worker.Process != "app.ws:handler" || worker.Host != "app:processes" || !*worker.Lifecycle.AutoStart ||
		*worker.Lifecycle.Restart.MaxAttempts != 3 || worker.Lifecycle.Restart.BackoffFactor != 2 || worker.Scope != config.ScopeLocal {
		t.Errorf("service %+v", worker)
	}
	st, _ := app.Entry("app:files")
	if d := st.Spec.(*config.HTTPStatic).Dir; d != "public" {
		t.Errorf("static dir %q", d)
	}
	h, _ := app.Entry("app.ws:handler")
	if h.Spec.(*config.ProcessLua).File != "ws/handler.lua" {
		t.Errorf("source relative to its YAML file: %q", h.Spec.(*config.ProcessLua).File)
	}
}

func ids(es []*config.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

// TestLoadBrokenApp: every problem of a broken app is reported at once,
// each with file, line, entry and field (golden file; -update rewrites it).
func TestLoadBrokenApp(t *testing.T) {
	app, err := config.LoadDir("testdata/broken", config.StandardKinds())
	if app != nil {
		t.Fatal("a broken app was returned")
	}
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("error %v is not ErrInvalid", err)
	}
	golden(t, "testdata/broken.golden", err.Error()+"\n")
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("got:\n%s\nwant (%s):\n%s", got, file, want)
	}
}

func TestLoadDirectoryProblems(t *testing.T) {
	for name, tc := range map[string]struct {
		fs   fstest.MapFS
		want string
	}{
		"no index":     {fstest.MapFS{"app.yaml": {Data: []byte("x: 1")}}, "no _index.yaml found"},
		"empty file":   {fstest.MapFS{"_index.yaml": {Data: []byte("")}}, "_index.yaml: the file is empty"},
		"not yaml":     {fstest.MapFS{"_index.yaml": {Data: []byte("a: [")}}, "_index.yaml:1: invalid YAML"},
		"a list":       {fstest.MapFS{"_index.yaml": {Data: []byte("- 1\n- 2")}}, "_index.yaml:1: the file must be a mapping"},
		"no namespace": {fstest.MapFS{"_index.yaml": {Data: []byte("version: '1.0'\nentries: []")}}, "namespace: missing"},
		"entries not a list": {fstest.MapFS{"_index.yaml": {Data: []byte("version: '1.0'\nnamespace: a\nentries: {}")}},
			"_index.yaml:3: invalid YAML: cannot unmarshal !!map into []yaml.Node"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := config.Load(tc.fs, config.StandardKinds())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := config.LoadDir("testdata/none", config.StandardKinds()); err == nil || !strings.Contains(err.Error(), "cannot read the app directory") {
		t.Errorf("missing directory: %v", err)
	}
}

// loopSpec is a kind whose entries refer to one another, to test cycles.
type loopSpec struct {
	Next string `yaml:"next"`
}

func (s *loopSpec) Check(c *config.Checker) { c.Ref("next", &s.Next, "test.loop") }

func TestDependencyCycle(t *testing.T) {
	fsys := fstest.MapFS{"_index.yaml": {Data: []byte(`version: "1.0"
namespace: t
entries:
  - {name: a, kind: test.loop, next: b}
  - {name: b, kind: test.loop, next: c}
  - {name: c, kind: test.loop, next: a}
`)}}
	_, err := config.Load(fsys, []config.Kind{{Name: "test.loop", New: func() config.Spec { return &loopSpec{} }}})
	if err == nil || !strings.Contains(err.Error(), "dependency cycle: t:a -> t:b -> t:c -> t:a") {
		t.Fatalf("error %v", err)
	}
}

// FuzzLoad: arbitrary YAML never panics, and either loads or explains.
func FuzzLoad(f *testing.F) {
	for _, file := range []string{"testdata/valid/app/_index.yaml", "testdata/broken/_index.yaml", "testdata/broken/sub/_index.yaml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Components, environment and registry entries, libraries.
	f.Add([]byte(`version: "1.0"
namespace: app
entries:
  - {name: def, kind: ns.definition}
  - {name: host, kind: ns.requirement, default: app:h, targets: [{entry: svc, path: .host}, {entry: reg, path: .list+=}, {entry: reg, path: .a.b.c}]}
  - {name: dep, kind: ns.dependency, component: app, parameters: [{name: host, value: app:h}]}
  - {name: reg, kind: registry.entry, list: [1], meta: {type: x}}
  - {name: h, kind: process.host, lifecycle: {depends_on: [svc]}}
  - {name: svc, kind: process.service, process: p}
  - {name: p, kind: process.lua, source: file://hello.lua, method: main, imports: {lib: lib}}
  - {name: lib, kind: library.lua, source: file://hello.lua}
  - {name: os, kind: env.storage.os}
  - {name: v, kind: env.variable, variable: V, storage: os, default: x}
`))
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{
			"_index.yaml": {Data: data},
			"hello.lua":   {Data: []byte("return {}")},
			"public":      {Mode: os.ModeDir},
		}
		app, err := config.Load(fsys, config.StandardKinds())
		if (app == nil) == (err == nil) {
			t.Fatalf("app %v and error %v: exactly one must be set", app, err)
		}
		if err != nil && !errors.Is(err, config.ErrInvalid) {
			t.Fatalf("error %v is not ErrInvalid", err)
		}
	})
}
