package config_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wsrelay/wsrelay/config"
)

func load(t *testing.T, files map[string]string) (*config.App, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
	}
	return config.Load(fsys, config.StandardKinds())
}

const ported = `version: "1.0"
namespace: app
entries:
  - name: gateway
    kind: http.service
    addr: 127.0.0.1:0
    host: {buffer_size: 1024, worker_count: 4}
    lifecycle: {auto_start: true, start_timeout: 30s, stop_timeout: 60s}
  - name: admin
    kind: http.service
    addr: 127.0.0.1:0
    lifecycle: {auto_start: false}
  - name: processes
    kind: process.host
    host: {workers: 16, queue_size: 1024, local_queue_size: 256, max_processes: 500}
    lifecycle: {auto_start: true}
  - name: proc
    kind: process.lua
    source: file://p.lua
    method: main
  - name: fn
    kind: function.lua
    source: file://p.lua
    method: main
    pool: {type: lazy, max_size: 16, workers: 8, buffer: 512}
  - name: svc
    kind: process.service
    process: proc
    host: processes
    input: {room: lobby}
    lifecycle: {auto_start: true}
  - name: svc2
    kind: process.service
    process: proc
    host: processes
    input: [1, two]
`

// TestPortedFieldsAccepted: what apps written for the original runtime
// carry loads, and means something.
func TestPortedFieldsAccepted(t *testing.T) {
	app, err := load(t, map[string]string{"_index.yaml": ported, "p.lua": "return {main = function() end}"})
	if err != nil {
		t.Fatal(err)
	}
	gw, _ := app.Entry("app:gateway")
	admin, _ := app.Entry("app:admin")
	if !gw.Spec.(*config.HTTPService).Lifecycle.Started() || admin.Spec.(*config.HTTPService).Lifecycle.Started() {
		t.Error("http.service lifecycle.auto_start was not kept")
	}
	h, _ := app.Entry("app:processes")
	if host := h.Spec.(*config.ProcessHost); host.MailboxSize != 1024 || host.Host.Workers != 16 {
		t.Errorf("host.queue_size should bound the mailbox: %+v", host)
	}
	if host := h.Spec.(*config.ProcessHost); host.Host.MaxProcesses != 500 {
		t.Errorf("host.max_processes was not kept: %+v", host)
	}
	s, _ := app.Entry("app:svc")
	if args := s.Spec.(*config.ProcessService).Args; len(args) != 1 || args[0].(map[string]any)["room"] != "lobby" {
		t.Errorf("input (one value) should be the one argument: %#v", args)
	}
	s2, _ := app.Entry("app:svc2")
	if args := s2.Spec.(*config.ProcessService).Args; len(args) != 2 || args[1] != "two" {
		t.Errorf("input (a list) should be the arguments: %#v", args)
	}
}

func TestPortedFieldsStillStrict(t *testing.T) {
	bad := strings.NewReplacer(
		"lifecycle: {auto_start: true, start_timeout: 30s, stop_timeout: 60s}\n  - name: admin", "lifecycle: {auto_strat: true}\n  - name: admin",
		"host: {buffer_size: 1024,", "host: {bufer_size: 1024,",
		"pool: {type: lazy,", "pool: {type: lazzy,",
		"host: {workers: 16,", "host: {wrokers: 16, mailbox_size: 3,",
		"input: [1, two]", "input: [1, two]\n    args: [3]",
		"lifecycle: {auto_start: true}\n  - name: proc", "lifecycle: {auto_start: false}\n  - name: proc",
	).Replace(ported)
	_, err := load(t, map[string]string{"_index.yaml": bad, "p.lua": "return {main = function() end}"})
	expectErrors(t, err,
		`entry app:gateway: lifecycle.auto_strat: unknown field for kind http.service (did you mean "auto_start"?)`,
		`entry app:gateway: host.bufer_size: unknown field for kind http.service (did you mean "buffer_size"?)`,
		`entry app:fn: pool.type: "lazzy" is not one of inline, static, lazy, adaptive (did you mean "lazy"?)`,
		`entry app:processes: host.wrokers: unknown field for kind process.host (did you mean "workers"?)`,
		`entry app:processes: host.mailbox_size: unknown field for kind process.host`,
		`entry app:svc2: input: give args or input (its other name), not both`,
		`entry app:svc: lifecycle.auto_start: the service starts with the app but its host app:processes does not`,
	)
}

// TestUnknownKindIsNotDangling: an entry of a misspelt kind is reported
// once, with a suggestion, and what refers to it is not told it is missing.
func TestUnknownKindIsNotDangling(t *testing.T) {
	_, err := load(t, map[string]string{"_index.yaml": `version: "1.0"
namespace: hello
entries:
  - {name: gw, kind: http.service, addr: ":0"}
  - {name: api, kind: http.routr, meta: {server: gw}}
  - {name: ep, kind: http.endpoint, meta: {router: api}, method: GET, path: /, func: fn, colr: x}
  - {name: fn, kind: function.lua, source: file://f.lua, mehtod: main}
`, "f.lua": "return {}"})
	msg := err.Error()
	for _, want := range []string{
		`entry hello:api: kind: unknown kind "http.routr" (did you mean "http.router"?)`,
		`entry hello:fn: mehtod: unknown field for kind function.lua (did you mean "method"?)`,
		`entry hello:ep: colr: unknown field for kind http.endpoint`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "refers to hello:api") || strings.Contains(msg, "refers to hello:fn") {
		t.Errorf("an entry with its own problems was also reported as not defined:\n%s", msg)
	}
}

// TestAppDirectory: the app is the directory with the top _index.yaml;
// testdata below it is not part of the app.
func TestAppDirectory(t *testing.T) {
	app, err := load(t, map[string]string{
		"_index.yaml":            "version: '1.0'\nnamespace: a\nentries: []\n",
		"testdata/x/_index.yaml": "broken: [",
		"sub/_index.yaml":        "version: '1.0'\nnamespace: a.sub\nentries: []\n",
		".hidden/y/_index.yaml":  "broken: [",
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(app.Files, ",") != "_index.yaml,sub/_index.yaml" {
		t.Errorf("files read: %v", app.Files)
	}
	_, err = load(t, map[string]string{"examples/chat/_index.yaml": "version: '1.0'\nnamespace: a\nentries: []\n"})
	if err == nil || !strings.Contains(err.Error(), "no _index.yaml at the top of the app directory (an app directory has one; give the app's directory, like examples/chat)") {
		t.Errorf("a directory of apps loaded as one: %v", err)
	}
}

func TestEnvironmentReferences(t *testing.T) {
	t.Setenv("WSRELAY_TEST_ADDR", "127.0.0.1:8081")
	t.Setenv("WSRELAY_TEST_EMPTY", "")
	t.Setenv("WSRELAY_TEST_OFF", "false")
	app, err := load(t, map[string]string{"_index.yaml": `version: "1.0"
namespace: app
entries:
  - name: a
    kind: http.service
    addr: "${env:WSRELAY_TEST_ADDR:-127.0.0.1:8080}"
  - name: b
    kind: http.service
    addr: "${env:WSRELAY_TEST_UNSET:-127.0.0.1:8080}"
  - name: c
    kind: http.service
    addr: ${env:WSRELAY_TEST_EMPTY:-127.0.0.1}:${env:WSRELAY_TEST_UNSET:-9}
    lifecycle:
      auto_start: ${env:WSRELAY_TEST_OFF:-true}
  - name: d
    kind: http.router
    meta: {server: a}
    options: {cors.allow.origins: "$${env:X}"}
`})
	if err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"app:a": "127.0.0.1:8081", "app:b": "127.0.0.1:8080", "app:c": "127.0.0.1:9"} {
		e, _ := app.Entry(id)
		if got := e.Spec.(*config.HTTPService).Addr; got != want {
			t.Errorf("%s addr %q, want %q", id, got, want)
		}
	}
	c, _ := app.Entry("app:c")
	if c.Spec.(*config.HTTPService).Lifecycle.Started() {
		t.Error("auto_start: ${env:...} expanding to false should be the boolean false")
	}
	d, _ := app.Entry("app:d")
	if p := d.Spec.(*config.HTTPRouter).Opts["cors.allow.origins"]; p != "${env:X}" {
		t.Errorf("$${ should write a literal ${: %q", p)
	}

	_, err = load(t, map[string]string{"_index.yaml": `version: "1.0"
namespace: app
entries:
  - name: a
    kind: http.service
    addr: "${env:WSRELAY_TEST_UNSET}"
  - name: b
    kind: http.service
    addr: "${env:not valid}"
`})
	expectErrors(t, err,
		"_index.yaml:6: environment variable WSRELAY_TEST_UNSET is not set (give a default: ${env:WSRELAY_TEST_UNSET:-value})",
		`_index.yaml:9: "${env:not valid}": a malformed environment reference`,
	)
}
