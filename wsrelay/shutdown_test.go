package wsrelay_test

import (
	"context"
	"sync/atomic"
	"testing"

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
