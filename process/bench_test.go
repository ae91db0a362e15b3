package process_test

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// benchNode is newNode with a mailbox large enough for a benchmark's burst.
func benchNode(b *testing.B) *process.Node {
	return newNode(b, &process.HostOptions{MailboxSize: 1 << 30}, nil)
}

// BenchmarkSendReceive: one sender, one blocking receiver; an op is one
// message sent and received.
func BenchmarkSendReceive(b *testing.B) {
	n := benchNode(b)
	done := make(chan struct{})
	total := b.N
	to, _ := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		for range total {
			if _, ok := p.Receive(p.Context()); !ok {
				break
			}
		}
		close(done)
		return value.Nil(), nil
	}, process.SpawnOptions{})
	from := pid.PID{Node: n.Name(), Host: "bench", ID: 1}
	payload := value.String("hello")
	b.ReportAllocs()
	b.ResetTimer()
	for range total {
		if err := n.Send(from, to, "t", payload); err != nil {
			b.Fatal(err)
		}
	}
	<-done
}

type countHandler struct {
	left atomic.Int64
	done chan struct{}
}

func (h *countHandler) HandleMessage(*process.Process, process.Message) error {
	if h.left.Add(-1) == 0 {
		close(h.done)
	}
	return nil
}

// HandleEvent ends the process on CANCEL, so node shutdown does not wait out
// the grace period.
func (h *countHandler) HandleEvent(_ *process.Process, e process.Event) error {
	if e.Kind == process.EventCancel {
		return process.ErrStop
	}
	return nil
}
func (h *countHandler) Terminate(*process.Process, process.Result) {}

// BenchmarkSendReceiveReactive: the same to a reactive receiver.
func BenchmarkSendReceiveReactive(b *testing.B) {
	n := benchNode(b)
	h := &countHandler{done: make(chan struct{})}
	h.left.Store(int64(b.N))
	to, _ := n.SpawnReactive(host, h, process.SpawnOptions{})
	from := pid.PID{Node: n.Name(), Host: "bench", ID: 1}
	payload := value.String("hello")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := n.Send(from, to, "t", payload); err != nil {
			b.Fatal(err)
		}
	}
	<-h.done
}

func waitNoProcesses(n *process.Node) {
	for n.Stats().Processes > 0 {
		runtime.Gosched()
	}
}

// BenchmarkSpawnExit: a blocking process that returns at once.
func BenchmarkSpawnExit(b *testing.B) {
	n := benchNode(b)
	body := func(*process.Process) (value.Value, error) { return value.Nil(), nil }
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := n.Spawn(host, body, process.SpawnOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	waitNoProcesses(n)
}

// BenchmarkSpawnExitReactive: a reactive process spawned and terminated.
func BenchmarkSpawnExitReactive(b *testing.B) {
	n := benchNode(b)
	h := &countHandler{}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		id, err := n.SpawnReactive(host, h, process.SpawnOptions{})
		if err != nil {
			b.Fatal(err)
		}
		_ = n.Terminate(id)
	}
	waitNoProcesses(n)
}

// idleMemory spawns count idle processes and reports heap and stack bytes
// per process. Each iteration's node is shut down before the next, so the
// processes of earlier iterations neither count nor pile up.
func idleMemory(b *testing.B, spawn func(n *process.Node) error) {
	const count = 20000
	for range b.N {
		b.StopTimer()
		n, err := process.NewNode(nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := n.AddHost(host, &process.HostOptions{MailboxSize: 1 << 30}); err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for range count {
			if err := spawn(n); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		for n.Stats().Processes < count {
			runtime.Gosched()
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/count, "heap-B/proc")
		b.ReportMetric(float64(after.StackInuse-before.StackInuse)/count, "stack-B/proc")
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		if err := n.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		b.StartTimer()
	}
}

// BenchmarkIdleBlockingProcess: processes blocked in Receive.
func BenchmarkIdleBlockingProcess(b *testing.B) {
	idleMemory(b, func(n *process.Node) error {
		_, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
			p.Receive(p.Context())
			return value.Nil(), nil
		}, process.SpawnOptions{})
		return err
	})
}

// BenchmarkIdleReactiveProcess: reactive processes with nothing to do.
func BenchmarkIdleReactiveProcess(b *testing.B) {
	h := &countHandler{}
	idleMemory(b, func(n *process.Node) error {
		_, err := n.SpawnReactive(host, h, process.SpawnOptions{})
		return err
	})
}
