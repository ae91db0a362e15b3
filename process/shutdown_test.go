package process_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

func bareNode(t *testing.T, hopts *process.HostOptions) *process.Node {
	t.Helper()
	n, err := process.NewNode(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddHost(host, hopts); err != nil {
		t.Fatal(err)
	}
	return n
}

func shutdown(n *process.Node, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return n.Shutdown(ctx)
}

func TestShutdownCancelsEveryProcess(t *testing.T) {
	t.Parallel()
	n := bareNode(t, nil)
	reasons := make(chan string, 20)
	for range 10 {
		if _, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
			e, _ := p.ReceiveEvent(p.Context())
			reasons <- e.Reason
			return value.Nil(), nil
		}, process.SpawnOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	rec := newRecorder()
	rec.onEvent = func(p *process.Process, e process.Event) error {
		if e.Kind == process.EventCancel {
			reasons <- e.Reason
			return process.ErrStop
		}
		return nil
	}
	if _, err := n.SpawnReactive(host, rec, process.SpawnOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := shutdown(n, timeout); err != nil {
		t.Fatalf("shutdown of cooperative processes: %v", err)
	}
	for range 11 {
		if r := <-reasons; r != "shutdown" {
			t.Fatalf("CANCEL reason %q, want shutdown", r)
		}
	}
	if live := n.Stats().Processes; live != 0 {
		t.Fatalf("%d processes alive after shutdown", live)
	}
	if _, err := n.Spawn(host, func(*process.Process) (value.Value, error) { return value.Nil(), nil }, process.SpawnOptions{}); !errors.Is(err, process.ErrShuttingDown) {
		t.Fatalf("spawn after shutdown: %v", err)
	}
}

// A process that ignores CANCEL is terminated when the shutdown deadline
// comes, and reported.
func TestShutdownTerminatesAndReportsStragglers(t *testing.T) {
	t.Parallel()
	n := bareNode(t, &process.HostOptions{CancelGrace: time.Hour})
	id, _ := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		<-p.Context().Done() // ends only when terminated
		return value.Nil(), nil
	}, process.SpawnOptions{})
	err := shutdown(n, 50*time.Millisecond)
	var se *process.ShutdownError
	if !errors.As(err, &se) || len(se.Terminated) != 1 || se.Terminated[0] != id || len(se.Stuck) != 0 {
		t.Fatalf("shutdown = %v, want %v reported as terminated", err, id)
	}
}

// A Go body that ignores even termination is named as stuck.
func TestShutdownReportsStuckGoroutines(t *testing.T) {
	t.Parallel()
	n := bareNode(t, &process.HostOptions{CancelGrace: time.Hour})
	release := make(chan struct{})
	id, _ := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		<-release
		return value.Nil(), nil
	}, process.SpawnOptions{})
	err := shutdown(n, 20*time.Millisecond)
	close(release)
	var se *process.ShutdownError
	if !errors.As(err, &se) || len(se.Stuck) != 1 || se.Stuck[0] != id {
		t.Fatalf("shutdown = %v, want %v reported as stuck", err, id)
	}
}

// Sends and spawns racing a shutdown neither panic nor block it, and every
// send either succeeds or is dropped.
func TestSendsDuringShutdown(t *testing.T) {
	t.Parallel()
	n := bareNode(t, nil)
	var targets []pid.PID
	for range 20 {
		id, _ := n.Spawn(host, func(p *process.Process) (value.Value, error) {
			for {
				if _, ok := p.Receive(p.Context()); !ok {
					return value.Nil(), nil
				}
			}
		}, process.SpawnOptions{})
		targets = append(targets, id)
	}
	stop := make(chan struct{})
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := n.Send(pid.PID{}, targets[(i+w)%len(targets)], "t", value.Int(int64(i))); err != nil {
					failed.Add(1)
				}
				sent.Add(1)
				if i%50 == 0 {
					_, _ = n.Spawn(host, func(p *process.Process) (value.Value, error) {
						p.Receive(p.Context())
						return value.Nil(), nil
					}, process.SpawnOptions{})
				}
			}
		})
	}
	for sent.Load() < 1000 {
		runtime.Gosched()
	}
	err := shutdown(n, timeout)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("shutdown under load: %v", err)
	}
	if failed.Load() != 0 {
		t.Fatalf("%d sends failed; sends to ending processes must be dropped, not errors", failed.Load())
	}
	if n.Stats().Processes != 0 {
		t.Fatal("processes alive after shutdown")
	}
}
