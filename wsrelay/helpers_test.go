package wsrelay_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/internal/relaytest"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const (
	host    = "app:processes"
	timeout = 30 * time.Second
)

// env is a node, a relay in front of a test handler, and a real HTTP
// server on 127.0.0.1.
type env struct {
	t       testing.TB
	node    *process.Node
	targets *process.Node // where target() spawns: node, or another node (topology)
	cut     func()        // remote topology: the targets' node is lost without a goodbye
	rl      *wsrelay.Relay
	srv     *httptest.Server
	url     string // ws://127.0.0.1:port/ws
	logs    *testlog.Buffer
	calls   atomic.Int64 // handler calls

	mu     sync.Mutex
	header string // what the handler sets as X-WS-Relay; "" sets none
}

func newEnv(t testing.TB, opts wsrelay.Options) *env {
	t.Helper()
	return newEnvIn(t, opts, topology{})
}

// newEnvIn is newEnv with the targets where topo says.
func newEnvIn(t testing.TB, opts wsrelay.Options, topo topology) *env {
	t.Helper()
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var node, targets *process.Node
	var cut func()
	if topo.remote {
		node, targets, cut = clusterNodes(t, log)
	} else {
		var err error
		if node, err = process.NewNode(&process.Options{Name: "n1", Logger: log}); err != nil {
			t.Fatal(err)
		}
		if _, err := node.AddHost(host, &process.HostOptions{CancelGrace: time.Second}); err != nil {
			t.Fatal(err)
		}
		targets = node
	}
	opts.Node, opts.Logger, opts.Route = node, log, "test:ws"
	rl, err := wsrelay.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, node: node, targets: targets, cut: cut, rl: rl, logs: logs}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		e.mu.Lock()
		h := e.header
		e.mu.Unlock()
		w.Header().Set("X-Handler", "yes")
		if h != "" {
			w.Header().Set("X-WS-Relay", h)
			return
		}
		w.Write([]byte("plain response"))
	})
	t.Cleanup(func() { // after the relay's shutdown (cleanups run last first)
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := node.Shutdown(ctx); err != nil {
			t.Errorf("node shutdown: %v", err)
		}
	})
	e.srv, e.url = relaytest.Serve(t, rl, handler)
	return e
}

// relayTo makes the handler relay to target with the given header fields.
func (e *env) relayTo(target pid.PID, fields string) {
	h := `{"target_pid":"` + target.String() + `"`
	if fields != "" {
		h += "," + fields
	}
	e.setHeader(h + "}")
}

func (e *env) setHeader(h string) {
	e.mu.Lock()
	e.header = h
	e.mu.Unlock()
}

// dial opens a connection, failing the test when it is refused.
func (e *env) dial(t testing.TB, header http.Header) *wsclient.Client {
	t.Helper()
	c, resp, err := wsclient.Dial(e.url, header)
	if err != nil {
		if resp != nil {
			t.Fatalf("dial: %v: %d %s", err, resp.Status, resp.Body)
		}
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// target is a Go process standing for the app's handler process: it
// records what it receives and, with echo, sends client frames back.
func (e *env) target(echo bool) *proctest.Probe {
	e.t.Helper()
	return e.targetOn(e.targets, echo)
}

// targetOn is target on node n.
func (e *env) targetOn(n *process.Node, echo bool) *proctest.Probe {
	e.t.Helper()
	var onMessage func(*process.Process, process.Message)
	if echo {
		onMessage = func(p *process.Process, m process.Message) {
			if m.Topic != "ws.message" {
				return
			}
			client, _ := m.Payload.Get("client_pid")
			typ, _ := m.Payload.Get("type")
			data, _ := m.Payload.Get("data")
			c, _ := client.Text()
			_ = p.SendDest(c, "ws.send", value.Map(value.Field{Key: "type", Value: typ}, value.Field{Key: "data", Value: data}))
		}
	}
	return proctest.Spawn(e.t, n, host, onMessage)
}

// field returns a payload field as Go data.
func field(m process.Message, key string) any {
	v, ok := m.Payload.Get(key)
	if !ok {
		return nil
	}
	return v.Any()
}

func str(m process.Message, key string) string {
	s, _ := field(m, key).(string)
	return s
}

// deadLetters counts the messages to ended processes on the relay's node
// and the targets'.
func (e *env) deadLetters() uint64 {
	d := e.node.Stats().DeadLetters
	if e.targets != e.node {
		d += e.targets.Stats().DeadLetters
	}
	return d
}

// waitExit waits until p has ended.
func (e *env) waitExit(p pid.PID) {
	e.t.Helper()
	poll.Until(e.t, timeout, p.String()+" to end", func() bool { return !e.node.Alive(p) })
}
