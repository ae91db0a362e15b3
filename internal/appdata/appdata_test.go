package appdata_test

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/internal/appdata"
	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/luart"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

func load(t *testing.T, index string) *config.App {
	t.Helper()
	app, err := config.Load(fstest.MapFS{"_index.yaml": {Data: []byte(index)}}, config.StandardKinds())
	if err != nil {
		t.Fatal(err)
	}
	return app
}

const envApp = `version: "1.0"
namespace: app.env
entries:
  - {name: os, kind: env.storage.os}
  - {name: defaults, kind: env.storage.static, values: {GREETING: hello, PORT: "80"}}
  - {name: mem, kind: env.storage.memory}
  - {name: chain, kind: env.storage.router, storages: [mem, os, defaults]}
  - {name: home, kind: env.variable, variable: HOME_DIR, storage: os}
  - {name: port, kind: env.variable, variable: PORT, storage: chain, default: "8080"}
  - {name: greeting, kind: env.variable, variable: GREETING, storage: chain}
  - {name: mode, kind: env.variable, variable: MODE, storage: chain, default: dev, readonly: true}
  - {name: secret, kind: env.variable, storage: os}
  - {name: nothing, kind: env.variable, variable: NOTHING, storage: defaults}
`

func TestEnv(t *testing.T) {
	osEnv := map[string]string{"HOME_DIR": "/home/ann", "secret": "s3", "PORT": "9000"}
	env := appdata.NewEnv(load(t, envApp), func(k string) (string, bool) { v, ok := osEnv[k]; return v, ok })
	for _, tc := range []struct{ name, want string }{
		{"HOME_DIR", "/home/ann"},
		{"app.env:home", "/home/ann"}, // by entry id
		{"PORT", "9000"},              // the router reads os before defaults
		{"GREETING", "hello"},
		{"MODE", "dev"}, // the default
		{"app.env:secret", "s3"},
	} {
		if got, err := env.Get(tc.name); err != nil || got != tc.want {
			t.Errorf("Get(%s) = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := env.Get("secret"); !errors.Is(err, luart.ErrNoVariable) || !strings.Contains(err.Error(), "declare it as an env.variable entry") {
		t.Errorf("a variable without a public name is reached by id only: %v", err)
	}
	if _, err := env.Get("NOTHING"); !errors.Is(err, luart.ErrNoValue) {
		t.Errorf("no value and no default: %v", err)
	}
	// Writes go to the router's first storage, and are read back first.
	if err := env.Set("GREETING", "hi"); err != nil {
		t.Fatal(err)
	}
	if got, _ := env.Get("GREETING"); got != "hi" {
		t.Errorf("after Set: %q", got)
	}
	for name, want := range map[string]string{"MODE": "app.env:mode is readonly", "HOME_DIR": "process environment", "NOTHING": "configuration", "NOPE": "no such variable"} {
		if err := env.Set(name, "x"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Set(%s) = %v, want %q", name, err, want)
		}
	}
	all := env.All()
	if len(all) != 4 || all["PORT"] != "9000" || all["GREETING"] != "hi" || all["MODE"] != "dev" || all["HOME_DIR"] != "/home/ann" {
		t.Errorf("All = %v (public variables with a value)", all)
	}
}

func TestRegistry(t *testing.T) {
	reg := appdata.NewRegistry(load(t, `version: "1.0"
namespace: app
entries:
  - name: plugin_echo
    kind: registry.entry
    meta: {type: relay.plugin, order: 2}
    prefix: "echo."
    options: {max: 3, tags: [a, b]}
    when: 2024-01-02T03:04:05Z
  - {name: defaults, kind: env.storage.static, values: {A: "1"}}
`))
	e, ok := reg.Entry("app:plugin_echo")
	if !ok || e.Kind != "registry.entry" {
		t.Fatalf("%v %v", e, ok)
	}
	if got := e.Data.String(); got != `{"options":{"max":3,"tags":["a","b"]},"prefix":"echo.","when":"2024-01-02T03:04:05Z"}` {
		t.Errorf("data %s", got)
	}
	if got := e.Meta.String(); got != `{"order":2,"type":"relay.plugin"}` {
		t.Errorf("meta %s", got)
	}
	if len(reg.Entries()) != 2 {
		t.Errorf("entries %v", reg.Entries())
	}
	if _, ok := reg.Entry("app:nope"); ok {
		t.Error("found an entry that is not there")
	}
}
