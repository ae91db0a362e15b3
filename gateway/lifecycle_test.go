package gateway_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/pid"
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

// TestDependsOnWaits: a process.service starts once the services it
// depends on run (their instance started), not merely after their
// supervisors were spawned; one whose dependency gives up, or does not run
// within start_timeout, is not started and says why.
func TestDependsOnWaits(t *testing.T) {
	var blocker pid.PID
	app, logs := apptest.StartWith(t, "testdata/depends", gateway.Options{}, func(app *gateway.App) {
		var err error
		blocker, err = app.Node().Spawn("app:small", func(p *process.Process) (value.Value, error) {
			<-p.Context().Done()
			return value.Nil(), nil
		}, process.SpawnOptions{})
		if err != nil {
			t.Fatal(err)
		}
	})
	started := func(id string) bool { return strings.Contains(logs.String(), `msg="service started" service=`+id) }
	// store's instance cannot start while the blocker holds its host's
	// room: it fails, again and again.
	poll.Until(t, 30*time.Second, "store to fail to start twice", func() bool {
		return strings.Contains(logs.String(), `service=app:store attempt=2`)
	})
	if started("app:hub") {
		t.Fatalf("hub started before store ran:\n%s", logs)
	}
	if err := app.Node().Terminate(blocker); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "hub to start once store runs", func() bool { return started("app:hub") })
	l := logs.String()
	if !started("app:store") || strings.Index(l, `service started" service=app:store`) > strings.Index(l, `service started" service=app:hub`) {
		t.Errorf("hub started before store:\n%s", l)
	}
	poll.Until(t, 30*time.Second, "late and patient to give up", func() bool {
		l := logs.String()
		return strings.Contains(l, `level=ERROR msg="service not started: a service it depends on ended without ever running" service=app:late depends_on=app:never`) &&
			strings.Contains(l, `level=ERROR msg="service not started: a service it depends on is not running after 50ms (lifecycle.start_timeout)" service=app:patient depends_on=app:slow`)
	})
	if started("app:late") || started("app:patient") {
		t.Errorf("a service started without its dependency:\n%s", logs)
	}
}

// A service that starts with the app cannot depend on one that does not.
func TestDependsOnStoppedEntry(t *testing.T) {
	_, err := config.Load(fstest.MapFS{"_index.yaml": {Data: []byte(`version: "1.0"
namespace: app
entries:
  - {name: h, kind: process.host}
  - {name: p, kind: process.lua, source: file://p.lua, method: main}
  - {name: off, kind: process.service, process: p, host: h, lifecycle: {auto_start: false}}
  - {name: on, kind: process.service, process: p, host: h, lifecycle: {requires: [off]}}
`)}, "p.lua": {Data: []byte("return {main = function() end}")}}, config.StandardKinds())
	if err == nil || !strings.Contains(err.Error(), "entry app:on: lifecycle.depends_on: app:off does not start with the app (lifecycle.auto_start: false)") {
		t.Errorf("got %v", err)
	}
}

// TestHTTPServiceDependsOn: an http.service serves once the services it
// depends on run; one that never does fails the start, naming it.
func TestHTTPServiceDependsOn(t *testing.T) {
	const entries = `version: "1.0"
namespace: app
entries:
  - {name: h, kind: process.host}
  - {name: full, kind: process.host, host: {max_processes: 1}}
  - {name: p, kind: process.lua, source: file://p.lua, method: main}
  - {name: hub, kind: process.service, process: p, host: h}
  - {name: never, kind: process.service, process: p, host: full, lifecycle: {restart: {max_attempts: 1, initial_delay: 1ms, max_delay: 1ms}}}
`
	start := func(gw string) (*gateway.App, *testlog.Buffer, error) {
		cfg, err := config.Load(fstest.MapFS{"_index.yaml": {Data: []byte(entries + gw)},
			"p.lua": {Data: []byte("return {main = function() process.inbox():receive() end}")}}, config.StandardKinds())
		if err != nil {
			t.Fatal(err)
		}
		logs, log := testlog.New(slog.LevelInfo)
		app, err := gateway.Build(cfg, gateway.Options{Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { app.Shutdown(context.Background()) })
		return app, logs, app.Start()
	}
	app, logs, err := start(`  - {name: gw, kind: http.service, addr: "127.0.0.1:0", lifecycle: {depends_on: [hub]}}` + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := app.Addr("app:gw"); !ok {
		t.Error("app:gw is not listening")
	}
	l := logs.String()
	if i, j := strings.Index(l, `msg="service started" service=app:hub`), strings.Index(l, `msg=listening service=app:gw`); i < 0 || j < i {
		t.Errorf("gw listened before hub ran:\n%s", l)
	}
	_, _, err = start(`  - {name: gw, kind: http.service, addr: "127.0.0.1:0", lifecycle: {depends_on: [never]}}` + "\n")
	if err == nil || err.Error() != "gateway: app:gw does not serve: app:never, which it depends on, ended without ever running" {
		t.Errorf("Start = %v", err)
	}
}

// TestRestartJitter: lifecycle.restart.jitter spreads each restart delay
// by up to that fraction either way, as the original runtime does.
func TestRestartJitter(t *testing.T) {
	cfg, err := config.Load(fstest.MapFS{"_index.yaml": {Data: []byte(`version: "1.0"
namespace: app
entries:
  - {name: h, kind: process.host}
  - {name: p, kind: process.lua, source: file://p.lua, method: main}
  - {name: flaky, kind: process.service, process: p, host: h, lifecycle: {restart: {max_attempts: 6, initial_delay: 20ms, max_delay: 20ms, jitter: 0.5}}}
`)}, "p.lua": {Data: []byte(`return {main = function() error("boom") end}`)}}, config.StandardKinds())
	if err != nil {
		t.Fatal(err)
	}
	logs, log := testlog.New(slog.LevelInfo)
	app, err := gateway.Build(cfg, gateway.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Shutdown(context.Background())
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 30*time.Second, "the service to give up", func() bool { return strings.Contains(logs.String(), "service failed; giving up") })
	var delays []time.Duration
	for _, line := range strings.Split(logs.String(), "\n") {
		if _, rest, ok := strings.Cut(line, `msg="service failed; restarting"`); ok {
			_, in, _ := strings.Cut(rest, " in=")
			d, err := time.ParseDuration(strings.Fields(in)[0])
			if err != nil {
				t.Fatalf("%q: %v", line, err)
			}
			delays = append(delays, d)
		}
	}
	if len(delays) != 6 {
		t.Fatalf("%d restarts, want 6:\n%s", len(delays), logs)
	}
	spread := false
	for _, d := range delays {
		if d < 10*time.Millisecond || d > 30*time.Millisecond {
			t.Errorf("delay %v outside 20ms ± 50%%", d)
		}
		spread = spread || d != 20*time.Millisecond
	}
	if !spread {
		t.Errorf("delays %v: none was spread", delays)
	}
	_, err = config.Load(fstest.MapFS{"_index.yaml": {Data: []byte(`version: "1.0"
namespace: app
entries:
  - {name: h, kind: process.host}
  - {name: p, kind: process.lua, source: file://p.lua, method: main}
  - {name: s, kind: process.service, process: p, host: h, lifecycle: {restart: {jitter: 1.5}}}
`)}, "p.lua": {Data: []byte(`return {main = function() end}`)}}, config.StandardKinds())
	if err == nil || !strings.Contains(err.Error(), "lifecycle.restart.jitter: 1.5 is not a fraction from 0 to 1") {
		t.Errorf("jitter 1.5: %v", err)
	}
}
