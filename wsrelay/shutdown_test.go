package wsrelay_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// hookMetrics runs onOpened inside Metrics.Opened, which the relay calls
// between the upgrade and the registration of the connection.
type hookMetrics struct {
	refusals
	onOpened       atomic.Pointer[func()]
	opened, closed atomic.Int64
}

func (h *hookMetrics) Opened() {
	h.opened.Add(1)
	if f := h.onOpened.Swap(nil); f != nil {
		(*f)()
	}
}
func (h *hookMetrics) Closed(string) { h.closed.Add(1) }

// TestShutdownDuringUpgrade: a shutdown that begins after a client's 101
// but before its connection is registered closes it with 1001, and its
// target, which never got ws.join, gets no ws.leave either.
func TestShutdownDuringUpgrade(t *testing.T) {
	m := &hookMetrics{}
	e := newEnv(t, wsrelay.Options{Metrics: m})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	shut := make(chan struct{})
	hook := func() {
		go func() {
			e.rl.Shutdown(context.Background())
			close(shut)
		}()
		// Wait until the relay refuses new connections: it is closing.
		poll.Until(t, timeout, "the relay to refuse new connections", func() bool {
			_, resp, err := wsclient.Dial(e.url, nil)
			return err != nil && resp != nil && resp.Status == 503
		})
	}
	m.onOpened.Store(&hook)
	c := e.dial(t, nil)
	if code, reason, err := c.ReadClose(); code != 1001 {
		t.Errorf("close %d %q %v, want 1001", code, reason, err)
	}
	<-shut
	tg.Send(tg.PID.String(), "sentinel", value.Nil())
	if msg := tg.Recv(); msg.Topic != "sentinel" {
		t.Errorf("the target got %s %v: it never had a ws.join", msg.Topic, msg.Payload)
	}
	poll.Until(t, timeout, "every opened connection to be counted closed", func() bool { return m.opened.Load() == m.closed.Load() })
}

// writerHook holds a connection's writer in Metrics.FrameOut (the writer
// calls it before each data frame it writes) until Shutdown returns, or
// for a grace period: a Shutdown that waits for its writers cannot
// return while one is held.
type writerHook struct {
	refusals
	held     chan struct{} // closed once the writer is held
	returned chan struct{} // closed once Shutdown returned
	released chan struct{} // closed once the writer goes on
	early    atomic.Bool   // Shutdown returned while the writer was held
	once     atomic.Bool
}

func (h *writerHook) FrameOut(int) {
	if !h.once.CompareAndSwap(false, true) {
		return
	}
	close(h.held)
	defer close(h.released)
	select {
	case <-h.returned:
		h.early.Store(true)
	case <-time.After(2 * time.Second): // what a buggy Shutdown is given to return early
	}
}

// TestShutdownWaitsForWriters: Shutdown returns only once the writer
// goroutines it started have ended, even one that is busy when the time
// runs out.
func TestShutdownWaitsForWriters(t *testing.T) {
	h := &writerHook{held: make(chan struct{}), returned: make(chan struct{}), released: make(chan struct{})}
	e := newEnv(t, wsrelay.Options{Metrics: h})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	defer c.Close()
	tg.Send(str(tg.Next("ws.join"), "client_pid"), "ws.send", value.String("held"))
	<-h.held
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no time to drain: the sockets are cut
	e.rl.Shutdown(ctx)
	close(h.returned)
	<-h.released
	if h.early.Load() {
		t.Fatal("Shutdown returned while a writer it started was still running")
	}
	// A writer counts itself done on its way out: its goroutine may still
	// be returning, and must be gone soon after.
	poll.Until(t, timeout, "no writer goroutine left", func() bool { return countStacks("wsrelay.(*conn).writeLoop") == 0 })
}

// countStacks counts the goroutines whose stack names fn.
func countStacks(fn string) int {
	n := 0
	for _, g := range goroutines() {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}
