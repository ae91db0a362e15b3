package appdata_test

import (
	"errors"
	"os"
	"path/filepath"
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

// TestEnvFileStorage: env.storage.file reads its file as the app loads
// and env.set writes through to it, keeping its other lines.
func TestEnvFileStorage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("_index.yaml", `version: "1.0"
namespace: app
entries:
  - {name: file, kind: env.storage.file, file_path: app.env, file_mode: 0600}
  - {name: created, kind: env.storage.file, file_path: state/new.env, auto_create: true}
  - {name: port, kind: env.variable, variable: PORT, storage: file}
  - {name: token, kind: env.variable, variable: TOKEN, storage: file}
  - {name: fixed, kind: env.variable, variable: FIXED, storage: file, readonly: true}
  - {name: fresh, kind: env.variable, variable: FRESH, storage: created}
`)
	write("app.env", "# the app's settings\nPORT=8080\n\nFIXED=1\n")
	app, err := config.LoadDir(dir, config.StandardKinds())
	if err != nil {
		t.Fatal(err)
	}
	env := appdata.NewEnv(app, nil)
	if v, err := env.Get("PORT"); err != nil || v != "8080" {
		t.Fatalf("PORT = %q, %v", v, err)
	}
	for _, kv := range [][2]string{{"PORT", "9090"}, {"TOKEN", " spaced "}, {"FRESH", "yes"}} {
		if err := env.Set(kv[0], kv[1]); err != nil {
			t.Fatalf("Set(%s): %v", kv[0], err)
		}
		if v, err := env.Get(kv[0]); err != nil || v != kv[1] {
			t.Errorf("%s = %q, %v after Set", kv[0], v, err)
		}
	}
	got, _ := os.ReadFile(filepath.Join(dir, "app.env"))
	if want := "# the app's settings\nPORT=9090\n\nFIXED=1\nTOKEN=\" spaced \"\n"; string(got) != want {
		t.Errorf("app.env is\n%q\nwant\n%q", got, want)
	}
	if st, err := os.Stat(filepath.Join(dir, "app.env")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("app.env mode %v, %v; want 0600 (file_mode)", st.Mode(), err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "state/new.env")); string(got) != "FRESH=yes\n" {
		t.Errorf("auto_create: state/new.env is %q", got)
	}
	// The file as a new app loads it gives the values written.
	again, err := config.LoadDir(dir, config.StandardKinds())
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := appdata.NewEnv(again, nil).Get("TOKEN"); v != " spaced " {
		t.Errorf("TOKEN read back as %q", v)
	}
	if err := env.Set("FIXED", "2"); !errors.Is(err, luart.ErrReadOnly) {
		t.Errorf("readonly variable: %v", err)
	}
	if err := env.Set("PORT", "a\nb"); err == nil || !strings.Contains(err.Error(), "app.env: an env file holds one line per value") {
		t.Errorf("a line break: %v", err)
	}
	write("app.env", "PORT=1\nbroken line\n")
	if err := env.Set("PORT", "2"); err == nil || !strings.Contains(err.Error(), "app.env:2: not NAME=value") {
		t.Errorf("a file broken since it loaded: %v", err)
	}
	// An app not loaded from a directory has nowhere to write.
	mem := load(t, `version: "1.0"
namespace: app
entries:
  - {name: file, kind: env.storage.file, file_path: x.env, auto_create: true}
  - {name: x, kind: env.variable, variable: X, storage: file}
`)
	if err := appdata.NewEnv(mem, nil).Set("X", "1"); !errors.Is(err, luart.ErrReadOnly) || !strings.Contains(err.Error(), "app:file cannot be written: the app was not loaded from a directory") {
		t.Errorf("in-memory app: %v", err)
	}
}
