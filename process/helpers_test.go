package process_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const (
	host    = "app:processes"
	timeout = 30 * time.Second
)

// newNode returns a node with one host, shut down when the test ends.
func newNode(t testing.TB, hopts *process.HostOptions, opts *process.Options) *process.Node {
	t.Helper()
	n, err := process.NewNode(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddHost(host, hopts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := n.Shutdown(ctx); err != nil {
			t.Errorf("shutdown at the end of the test: %v", err)
		}
	})
	return n
}

// probe is a blocking process driven by the test: it runs closures as
// itself and forwards what it receives to channels.
type probe struct {
	pid    pid.PID
	msgs   chan process.Message
	events chan process.Event
	do     chan func(*process.Process)
	quit   chan exitReq
}

type exitReq struct {
	v   value.Value
	err error
}

func spawnProbe(t testing.TB, n *process.Node, opts process.SpawnOptions) *probe {
	t.Helper()
	pr := &probe{
		msgs:   make(chan process.Message, 1024),
		events: make(chan process.Event, 1024),
		do:     make(chan func(*process.Process)),
		quit:   make(chan exitReq, 1),
	}
	id, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		for {
			select {
			case <-p.InboxReady():
				for {
					m, ok, closed := p.TryReceive()
					if closed {
						return value.Nil(), nil // cancelled and drained
					}
					if !ok {
						break
					}
					pr.msgs <- m
				}
			case <-p.EventsReady():
				for {
					e, ok, _ := p.TryReceiveEvent()
					if !ok {
						break
					}
					pr.events <- e
				}
			case f := <-pr.do:
				f(p)
			case r := <-pr.quit:
				return r.v, r.err
			case <-p.Context().Done():
				return value.Nil(), p.Context().Err()
			}
		}
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	pr.pid = id
	return pr
}

// run runs f as the probe process and returns its error.
func (pr *probe) run(t testing.TB, f func(p *process.Process) error) error {
	t.Helper()
	res := make(chan error, 1)
	select {
	case pr.do <- func(p *process.Process) { res <- f(p) }:
	case <-time.After(timeout):
		t.Fatalf("probe %v is not running", pr.pid)
	}
	return <-res
}

// exit makes the probe's body return v, err.
func (pr *probe) exit(v value.Value, err error) { pr.quit <- exitReq{v, err} }

func (pr *probe) nextMsg(t testing.TB) process.Message {
	t.Helper()
	select {
	case m := <-pr.msgs:
		return m
	case <-time.After(timeout):
		t.Fatalf("probe %v: no message within %v", pr.pid, timeout)
		return process.Message{}
	}
}

func (pr *probe) nextEvent(t testing.TB) process.Event {
	t.Helper()
	select {
	case e := <-pr.events:
		return e
	case <-time.After(timeout):
		t.Fatalf("probe %v: no event within %v", pr.pid, timeout)
		return process.Event{}
	}
}

// watch spawns a probe monitoring target and returns it.
func watch(t testing.TB, n *process.Node, target pid.PID) *probe {
	t.Helper()
	w := spawnProbe(t, n, process.SpawnOptions{})
	if err := w.run(t, func(p *process.Process) error { return p.Monitor(target) }); err != nil {
		t.Fatal(err)
	}
	return w
}

// waitExit monitors target and returns the Result its EXIT event carries.
func waitExit(t testing.TB, n *process.Node, target pid.PID) process.Result {
	t.Helper()
	e := watch(t, n, target).nextEvent(t)
	if e.Kind != process.EventExit || e.From != target {
		t.Fatalf("got %v from %v, want EXIT from %v", e.Kind, e.From, target)
	}
	return e.Result
}

// logger returns a logger writing to b.
func logger(b *testlog.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }
