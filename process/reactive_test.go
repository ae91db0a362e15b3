package process_test

import (
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// recorder is a reactive handler that records what it is called with.
type recorder struct {
	mu        sync.Mutex
	topics    []string
	events    []process.Event
	onMessage func(p *process.Process, m process.Message) error
	onEvent   func(p *process.Process, e process.Event) error
	ended     chan process.Result
	inside    int // calls in progress, to catch concurrent calls
	overlap   bool
}

func newRecorder() *recorder { return &recorder{ended: make(chan process.Result, 2)} }

func (r *recorder) enter() {
	r.mu.Lock()
	r.inside++
	if r.inside > 1 {
		r.overlap = true
	}
	r.mu.Unlock()
}

func (r *recorder) leave() {
	r.mu.Lock()
	r.inside--
	r.mu.Unlock()
}

func (r *recorder) HandleMessage(p *process.Process, m process.Message) error {
	r.enter()
	defer r.leave()
	r.mu.Lock()
	r.topics = append(r.topics, m.Topic)
	r.mu.Unlock()
	if r.onMessage != nil {
		return r.onMessage(p, m)
	}
	return nil
}

func (r *recorder) HandleEvent(p *process.Process, e process.Event) error {
	r.enter()
	defer r.leave()
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	if r.onEvent != nil {
		return r.onEvent(p, e)
	}
	return nil
}

func (r *recorder) Terminate(p *process.Process, res process.Result) { r.ended <- res }

func TestReactiveHandlesInOrderOneAtATime(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	rec := newRecorder()
	rec.onMessage = func(p *process.Process, m process.Message) error {
		if m.Topic == "stop" {
			return process.ErrStop
		}
		return nil
	}
	id, err := n.SpawnReactive(host, rec, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := watch(t, n, id)
	const count = 5000
	var wg sync.WaitGroup
	from := pid.PID{Node: n.Name(), Host: "x", ID: 1}
	wg.Go(func() {
		for i := range count {
			_ = n.Send(from, id, itoa(uint64(i)), value.Nil())
		}
		_ = n.Send(from, id, "stop", value.Nil())
	})
	wg.Wait()
	if r := w.nextEvent(t).Result; r.Err != nil {
		t.Fatalf("ErrStop ended the process abnormally: %v", r.Err)
	}
	if r := <-rec.ended; r.Err != nil {
		t.Fatalf("Terminate got %v", r.Err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.overlap {
		t.Fatal("handler was called concurrently")
	}
	if len(rec.topics) != count+1 {
		t.Fatalf("handled %d messages, want %d", len(rec.topics), count+1)
	}
	for i := range count {
		if rec.topics[i] != itoa(uint64(i)) {
			t.Fatalf("message %d was %q", i, rec.topics[i])
		}
	}
}

func TestReactiveIdleHasNoGoroutine(t *testing.T) {
	n := newNode(t, nil, nil)
	before := runtime.NumGoroutine()
	const count = 2000
	ids := make([]pid.PID, count)
	for i := range ids {
		id, err := n.SpawnReactive(host, newRecorder(), process.SpawnOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	if grown := runtime.NumGoroutine() - before; grown > count/10 {
		t.Fatalf("%d idle reactive processes added %d goroutines", count, grown)
	}
	for _, id := range ids {
		_ = n.Terminate(id)
	}
}

func TestReactiveErrorAndTerminateAndEvents(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	boom := errors.New("handler failed")

	failing := newRecorder()
	failing.onMessage = func(*process.Process, process.Message) error { return boom }
	id, _ := n.SpawnReactive(host, failing, process.SpawnOptions{})
	w := watch(t, n, id)
	_ = n.Send(pid.PID{}, id, "x", value.Nil())
	if r := w.nextEvent(t).Result; !errors.Is(r.Err, boom) {
		t.Fatalf("failing handler ended with %v", r.Err)
	}
	if r := <-failing.ended; !errors.Is(r.Err, boom) {
		t.Fatalf("Terminate got %v", r.Err)
	}

	panicking := newRecorder()
	panicking.onMessage = func(*process.Process, process.Message) error { explode(); return nil }
	id, _ = n.SpawnReactive(host, panicking, process.SpawnOptions{})
	w = watch(t, n, id)
	_ = n.Send(pid.PID{}, id, "x", value.Nil())
	if r := w.nextEvent(t).Result; !errors.Is(r.Err, process.ErrPanic) {
		t.Fatalf("panicking handler ended with %v", r.Err)
	}
	<-panicking.ended

	idle := newRecorder()
	id, _ = n.SpawnReactive(host, idle, process.SpawnOptions{})
	_ = n.Terminate(id)
	if r := <-idle.ended; !errors.Is(r.Err, process.ErrTerminated) {
		t.Fatalf("terminated reactive process: Terminate got %v", r.Err)
	}
	select {
	case <-idle.ended:
		t.Fatal("Terminate called twice")
	default:
	}

	cancelled := newRecorder()
	cid, _ := n.SpawnReactive(host, cancelled, process.SpawnOptions{})
	_ = n.Cancel(pid.PID{}, cid, "bye")
	poll.Until(t, timeout, "CANCEL event handled", func() bool {
		cancelled.mu.Lock()
		defer cancelled.mu.Unlock()
		return len(cancelled.events) > 0
	})
	cancelled.mu.Lock()
	e := cancelled.events[0]
	cancelled.mu.Unlock()
	if e.Kind != process.EventCancel || e.Reason != "bye" {
		t.Fatalf("reactive process got %+v, want CANCEL bye", e)
	}
	_ = n.Terminate(cid)
	<-cancelled.ended
}
