package process_test

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

func TestMonitorGetsExitWithResult(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	boom := errors.New("boom")
	tests := []struct {
		name string
		v    value.Value
		err  error
	}{
		{"normal", value.String("done"), nil},
		{"error", value.Nil(), boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := spawnProbe(t, n, process.SpawnOptions{})
			w := watch(t, n, target.pid)
			target.exit(tt.v, tt.err)
			e := w.nextEvent(t)
			if e.Kind != process.EventExit || e.From != target.pid {
				t.Fatalf("got %v from %v", e.Kind, e.From)
			}
			if !value.Equal(e.Result.Value, tt.v) || !errors.Is(e.Result.Err, tt.err) || (tt.err == nil) != (e.Result.Err == nil) {
				t.Fatalf("result %+v, want value %v error %v", e.Result, tt.v, tt.err)
			}
		})
	}
}

// TestMonitorNoticeLocal: with the target on the watcher's own node a
// notice is a plain monitor (the two are lost together); an empty topic
// or a watcher that is not a live local process is an error.
func TestMonitorNoticeLocal(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	target := spawnProbe(t, n, process.SpawnOptions{})
	w := spawnProbe(t, n, process.SpawnOptions{})
	if err := n.MonitorNotice(w.pid, target.pid, "bye", value.Nil()); err != nil {
		t.Fatal(err)
	}
	if err := n.MonitorNotice(w.pid, target.pid, "", value.Nil()); !errors.Is(err, process.ErrEmptyTopic) {
		t.Fatalf("empty notice topic: %v, want ErrEmptyTopic", err)
	}
	if err := n.MonitorNotice(pid.PID{Node: n.Name(), Host: host, ID: 1}, target.pid, "bye", value.Nil()); !errors.Is(err, process.ErrNoProc) {
		t.Fatalf("a watcher that never existed: %v, want ErrNoProc", err)
	}
	target.exit(value.Nil(), nil)
	if e := w.nextEvent(t); e.Kind != process.EventExit || e.From != target.pid {
		t.Fatalf("got %v from %v, want EXIT from the target", e.Kind, e.From)
	}
}

func TestMonitorDeadTargetGivesNoproc(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	target := spawnProbe(t, n, process.SpawnOptions{})
	target.exit(value.Nil(), nil)
	waitExit(t, n, target.pid)
	r := waitExit(t, n, target.pid) // a second watcher, after the end
	if !errors.Is(r.Err, process.ErrNoProc) || r.Err.Error() != "noproc" {
		t.Fatalf("monitoring a dead PID gave %v, want noproc", r.Err)
	}
	never := pid.PID{Node: n.Name(), Host: host, ID: 1}
	if r := waitExit(t, n, never); !errors.Is(r.Err, process.ErrNoProc) {
		t.Fatalf("monitoring a PID that never existed gave %v", r.Err)
	}
}

func TestUnmonitorStopsTheEvent(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	first, second := spawnProbe(t, n, process.SpawnOptions{}), spawnProbe(t, n, process.SpawnOptions{})
	w := watch(t, n, first.pid)
	if err := w.run(t, func(p *process.Process) error {
		if err := p.Unmonitor(first.pid); err != nil {
			return err
		}
		return p.Monitor(second.pid)
	}); err != nil {
		t.Fatal(err)
	}
	first.exit(value.Nil(), nil)
	waitExit(t, n, first.pid) // first has certainly ended now
	second.exit(value.Nil(), nil)
	if e := w.nextEvent(t); e.From != second.pid {
		t.Fatalf("got an event from %v after unmonitoring it", e.From)
	}
}

func TestMonitorTwiceGivesOneExit(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	a, b := spawnProbe(t, n, process.SpawnOptions{}), spawnProbe(t, n, process.SpawnOptions{})
	w := watch(t, n, a.pid)
	if err := w.run(t, func(p *process.Process) error {
		if err := p.Monitor(a.pid); err != nil {
			return err
		}
		return p.Monitor(b.pid)
	}); err != nil {
		t.Fatal(err)
	}
	a.exit(value.Nil(), nil)
	b.exit(value.Nil(), nil)
	seen := map[pid.PID]int{}
	seen[w.nextEvent(t).From]++
	seen[w.nextEvent(t).From]++
	if seen[a.pid] != 1 || seen[b.pid] != 1 {
		t.Fatalf("events: %v", seen)
	}
}

func TestMonitorSelfIsAnError(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	a := spawnProbe(t, n, process.SpawnOptions{})
	if err := a.run(t, func(p *process.Process) error { return p.Monitor(p.PID()) }); !errors.Is(err, process.ErrSelf) {
		t.Fatalf("monitor self: %v", err)
	}
}

// Monitoring a process while it exits gives exactly one EXIT: its result or noproc.
func TestMonitorRacingExit(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	w := spawnProbe(t, n, process.SpawnOptions{})
	boom := errors.New("boom")
	const rounds = 500
	targets := make(map[pid.PID]bool)
	for range rounds {
		start := make(chan struct{})
		id, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
			<-start
			return value.Nil(), boom
		}, process.SpawnOptions{})
		if err != nil {
			t.Fatal(err)
		}
		targets[id] = true
		if err := w.run(t, func(p *process.Process) error {
			close(start) // the target exits while we monitor it
			return p.Monitor(id)
		}); err != nil {
			t.Fatal(err)
		}
	}
	for range rounds {
		e := w.nextEvent(t)
		if !targets[e.From] {
			t.Fatalf("duplicate or unexpected EXIT from %v", e.From)
		}
		delete(targets, e.From)
		if !errors.Is(e.Result.Err, boom) && !errors.Is(e.Result.Err, process.ErrNoProc) {
			t.Fatalf("EXIT carried %v", e.Result.Err)
		}
	}
	select {
	case e := <-w.events:
		t.Fatalf("extra event %v from %v", e.Kind, e.From)
	default:
	}
}

func TestSpawnMonitoredSeesImmediateFailure(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	parent := spawnProbe(t, n, process.SpawnOptions{})
	boom := errors.New("failed at once")
	var child pid.PID
	if err := parent.run(t, func(p *process.Process) (err error) {
		child, err = p.Spawn(host, func(*process.Process) (value.Value, error) { return value.Nil(), boom }, process.SpawnOptions{Monitor: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	e := parent.nextEvent(t)
	if e.Kind != process.EventExit || e.From != child || !errors.Is(e.Result.Err, boom) {
		t.Fatalf("got %v from %v: %v; want the child's own EXIT (never noproc)", e.Kind, e.From, e.Result.Err)
	}
}

func TestTerminate(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	target := spawnProbe(t, n, process.SpawnOptions{})
	w := watch(t, n, target.pid)
	if err := n.Terminate(target.pid); err != nil {
		t.Fatal(err)
	}
	e := w.nextEvent(t)
	if !errors.Is(e.Result.Err, process.ErrTerminated) || e.Result.Err.Error() != "terminated" {
		t.Fatalf("terminated process ended with %v", e.Result.Err)
	}
	if n.Alive(target.pid) {
		t.Fatal("terminated process is alive")
	}
	if err := n.Terminate(target.pid); err != nil {
		t.Fatalf("terminating an ended process: %v", err)
	}
}

func TestCancelDeliversEventAndClosesInbox(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	got := make(chan string, 10)
	ready := make(chan struct{})
	id, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		<-ready
		e, _ := p.ReceiveEvent(p.Context())
		got <- e.Kind.String() + ":" + e.Reason
		for {
			m, ok := p.Receive(p.Context())
			if !ok {
				return value.String("clean"), nil
			}
			got <- m.Topic
		}
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, n, id)
	_ = n.Send(pid.PID{}, id, "before", value.Nil())
	if err := n.Cancel(pid.PID{}, id, "maintenance"); err != nil {
		t.Fatal(err)
	}
	_ = n.Send(pid.PID{}, id, "after", value.Nil()) // the inbox is closed: dropped
	close(ready)
	r := w.nextEvent(t).Result
	if r.Err != nil || !value.Equal(r.Value, value.String("clean")) {
		t.Fatalf("cancelled process ended with %+v", r)
	}
	close(got)
	var seen []string
	for s := range got {
		seen = append(seen, s)
	}
	if strings.Join(seen, ",") != "CANCEL:maintenance,before" {
		t.Fatalf("process saw %v; want the CANCEL event, then the message sent before the cancel only", seen)
	}
}

func TestCancelGracePeriodThenTerminate(t *testing.T) {
	t.Parallel()
	n := newNode(t, &process.HostOptions{CancelGrace: 20 * time.Millisecond}, nil)
	id, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		<-p.Context().Done() // ignores CANCEL
		return value.Nil(), nil
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, n, id)
	start := time.Now()
	_ = n.Cancel(pid.PID{}, id, "go away")
	r := w.nextEvent(t).Result
	if !errors.Is(r.Err, process.ErrTerminated) {
		t.Fatalf("process that ignored CANCEL ended with %v, want terminated", r.Err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("terminated before the grace period")
	}
}

func TestPanicEndsProcessNotNode(t *testing.T) {
	t.Parallel()
	var logs testlog.Buffer
	n := newNode(t, nil, &process.Options{Logger: logger(&logs)})
	id, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		if _, ok := p.Receive(p.Context()); ok {
			explode()
		}
		return value.Nil(), nil
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, n, id)
	_ = n.Send(pid.PID{}, id, "go", value.Nil())
	r := w.nextEvent(t).Result
	var pe *process.PanicError
	if !errors.As(r.Err, &pe) || !errors.Is(r.Err, process.ErrPanic) {
		t.Fatalf("panicking body ended with %v", r.Err)
	}
	if pe.Value != "kaboom" || !strings.Contains(pe.Stack, "explode") {
		t.Fatalf("panic error lacks the value or stack: %v", pe)
	}
	if !strings.Contains(logs.String(), "process panicked") {
		t.Fatal("panic not logged")
	}
	// The node still works.
	waitExit(t, n, spawnProbeThatExits(t, n))
}

func explode() { panic("kaboom") }

func spawnProbeThatExits(t *testing.T, n *process.Node) pid.PID {
	pr := spawnProbe(t, n, process.SpawnOptions{})
	pr.exit(value.Nil(), nil)
	return pr.pid
}

func TestManyWatchersEachGetOneExit(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	target := spawnProbe(t, n, process.SpawnOptions{})
	var ws []*probe
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 50 {
		wg.Go(func() {
			w := watch(t, n, target.pid)
			mu.Lock()
			ws = append(ws, w)
			mu.Unlock()
		})
	}
	wg.Wait()
	target.exit(value.Nil(), nil)
	for _, w := range ws {
		if e := w.nextEvent(t); e.From != target.pid || e.Result.Err != nil {
			t.Fatalf("watcher got %+v", e)
		}
	}
}

func TestSpawnWatching(t *testing.T) {
	n := newNode(t, nil, nil)
	target := spawnProbe(t, n, process.SpawnOptions{})
	dead := spawnProbe(t, n, process.SpawnOptions{})
	dead.exit(value.Nil(), nil)
	for n.Alive(dead.pid) {
		runtime.Gosched()
	}
	events := make(chan process.Event, 4)
	rec := newRecorder()
	rec.onEvent = func(_ *process.Process, e process.Event) error {
		switch e.Kind {
		case process.EventExit:
			events <- e
		case process.EventCancel:
			return process.ErrStop
		}
		return nil
	}
	_, err := n.SpawnReactive(host, rec, process.SpawnOptions{Watch: []pid.PID{target.pid, dead.pid}})
	if err != nil {
		t.Fatal(err)
	}
	if e := <-events; e.Kind != process.EventExit || e.From != dead.pid || !errors.Is(e.Result.Err, process.ErrNoProc) {
		t.Fatalf("watching a dead process: %+v", e)
	}
	target.exit(value.String("bye"), nil)
	if e := <-events; e.Kind != process.EventExit || e.From != target.pid {
		t.Fatalf("watched target ended: %+v", e)
	}
}
