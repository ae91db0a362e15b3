package luart_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const (
	host    = "app:processes"
	timeout = 30 * time.Second
)

// env is a node with one host and a Lua runtime, shut down with the test.
type env struct {
	t    testing.TB
	node *process.Node
	rt   *luart.Runtime
	logs *testlog.Buffer
}

func newEnv(t testing.TB, opts *luart.Options) *env {
	t.Helper()
	return newEnvWith(t, &process.Options{Name: "n1"}, opts)
}

// newEnvWith is newEnv with the node's options (its Logger is the env's).
func newEnvWith(t testing.TB, nodeOpts *process.Options, opts *luart.Options) *env {
	t.Helper()
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	nodeOpts.Logger = log
	node, err := process.NewNode(nodeOpts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.AddHost(host, &process.HostOptions{CancelGrace: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	var o luart.Options
	if opts != nil {
		o = *opts
	}
	o.Node, o.Logger = node, log
	rt, err := luart.New(o)
	if err != nil {
		t.Fatal(err)
	}
	for id, code := range helperPrograms {
		p, err := luart.Compile(luart.Source{ID: id, File: id + ".lua", Code: []byte(code), Method: "main", Kind: luart.KindProcess})
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := node.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &env{t: t, node: node, rt: rt, logs: logs}
}

// process compiles a process.lua program with method main and makes it
// spawnable.
func (e *env) process(id, code string, modules ...string) *luart.Program {
	e.t.Helper()
	return e.processMethod(id, "main", code, modules...)
}

func (e *env) processMethod(id, method, code string, modules ...string) *luart.Program {
	e.t.Helper()
	p, err := luart.Compile(luart.Source{ID: id, File: id + ".lua", Code: []byte(code), Method: method, Modules: modules, Kind: luart.KindProcess})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.rt.Add(p); err != nil {
		e.t.Fatal(err)
	}
	return p
}

// function compiles a function.lua program and returns its handler.
func (e *env) function(id, code string, modules ...string) *luart.Handler {
	e.t.Helper()
	p, err := luart.Compile(luart.Source{ID: id, File: id + ".lua", Code: []byte(code), Method: "handler", Modules: modules, Kind: luart.KindFunction})
	if err != nil {
		e.t.Fatal(err)
	}
	h, err := e.rt.Handler(p, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(h.Close)
	return h
}

func (e *env) spawn(p *luart.Program, args ...any) pid.PID {
	e.t.Helper()
	vs := make([]value.Value, len(args))
	for i, a := range args {
		vs[i] = value.MustOf(a)
	}
	id, err := e.rt.Spawn(host, p, vs, process.SpawnOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

// serve sends one request to h.
func serve(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
	}
	h.ServeHTTP(w, r)
	return w
}

func (e *env) probe() *proctest.Probe {
	e.t.Helper()
	return proctest.Spawn(e.t, e.node, host, nil)
}

// run spawns a process.lua program with main(probe_pid) and returns its
// result, as seen by a monitor.
func (e *env) run(code string, modules ...string) process.Result {
	e.t.Helper()
	pr := e.probe()
	return e.runWith(pr, code, modules...)
}

func (e *env) runWith(pr *proctest.Probe, code string, modules ...string) process.Result {
	e.t.Helper()
	p := e.process("test:"+strings.ReplaceAll(e.t.Name(), "/", "_")+randSuffix(), code, modules...)
	return pr.Await(e.spawnWatched(pr, p, value.String(pr.PID.String())))
}

// spawnWatched spawns p with args, monitored by the probe from the start,
// so that its EXIT cannot be missed however soon it comes.
func (e *env) spawnWatched(pr *proctest.Probe, p *luart.Program, args ...value.Value) pid.PID {
	e.t.Helper()
	var id pid.PID
	var err error
	pr.Run(func(self *process.Process) {
		id, err = e.rt.Spawn(host, p, args, process.SpawnOptions{Parent: self.PID(), Monitor: true})
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

var suffix atomic.Int64

// randSuffix makes program ids unique within a test binary.
func randSuffix() string { return "_" + strconv.FormatInt(suffix.Add(1), 10) }

// seed returns a seed snippet from testdata/seeds.
func seed(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/seeds/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// ok fails the test when r is not a normal exit.
func ok(t testing.TB, r process.Result) value.Value {
	t.Helper()
	if r.Err != nil {
		t.Fatalf("the Lua process failed: %v", r.Err)
	}
	return r.Value
}

func httptestRequest(h http.Handler, method, target, body string, headers map[string]string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range headers {
		r.Header.Set(k, v)
	}
	h.ServeHTTP(w, r)
	return w
}

func errorsAs(err error, target any) bool { return errors.As(err, target) }
