package gateway_test

import (
	"context"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// TestAutoStartFalse: an http.service or process.host with
// lifecycle.auto_start false is checked and built but not started.
func TestAutoStartFalse(t *testing.T) {
	cfg, err := config.Load(fstest.MapFS{"_index.yaml": {Data: []byte(`version: "1.0"
namespace: app
entries:
  - {name: gateway, kind: http.service, addr: "127.0.0.1:0", lifecycle: {auto_start: true}}
  - {name: admin, kind: http.service, addr: "127.0.0.1:0", lifecycle: {auto_start: false}}
  - {name: m, kind: http.metrics, meta: {server: admin}}
  - {name: on, kind: process.host, lifecycle: {auto_start: true}}
  - {name: off, kind: process.host, lifecycle: {auto_start: false}}
`)}}, config.StandardKinds())
	if err != nil {
		t.Fatal(err)
	}
	app, err := gateway.Build(cfg, gateway.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	defer app.Shutdown(context.Background())
	if _, ok := app.Addr("app:gateway"); !ok {
		t.Error("app:gateway is not listening")
	}
	if addr, ok := app.Addr("app:admin"); ok {
		t.Errorf("app:admin (auto_start: false) listens on %v", addr)
	}
	idle := func(p *process.Process) (value.Value, error) { return value.Nil(), nil }
	if _, err := app.Node().Spawn("app:on", idle, process.SpawnOptions{}); err != nil {
		t.Errorf("spawn on app:on: %v", err)
	}
	if _, err := app.Node().Spawn("app:off", idle, process.SpawnOptions{}); err == nil {
		t.Error("spawned on app:off, a host with auto_start: false")
	}
}

// TestCheckMiddleware: unknown middleware is found without building, so
// it is reported together with the configuration's own problems.
func TestCheckMiddleware(t *testing.T) {
	cfg, probs := config.Diagnose(fstest.MapFS{"_index.yaml": {Data: []byte(`version: "1.0"
namespace: app
entries:
  - {name: api, kind: http.router, meta: {server: nowhere}, middleware: [cros, gzip], post_middleware: [websocket_relay, cors], post_options: {wsrelay.colour: red, wsrelay.pong.timeout: 5s}}
`)}}, config.StandardKinds())
	if len(probs) != 1 {
		t.Fatalf("configuration problems: %v", probs)
	}
	problems := gateway.CheckMiddleware(cfg, []*gateway.Middleware{gateway.CORS(), gateway.Relay()})
	got := problems.Error()
	if len(problems) != 4 {
		t.Errorf("%d problems, want 4 (a known option is not one):\n%s", len(problems), got)
	}
	for _, want := range []string{
		`entry app:api: middleware: unknown middleware "cros" (did you mean "cors"?); known: cors`,
		`entry app:api: middleware: unknown middleware "gzip"; known: cors`,
		`entry app:api: post_middleware: cors runs before routing; list it under middleware`,
		`entry app:api: post_options.wsrelay.colour: unknown option of websocket_relay`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}
