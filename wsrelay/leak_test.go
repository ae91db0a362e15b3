package wsrelay_test

import (
	"runtime"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// TestNoLeaks: thousands of connections opened, used and closed every
// way a connection can close leave no goroutine, process or socket behind.
func TestNoLeaks(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(true)
	e.relayTo(tg.pid, `"heartbeat_interval":"1s"`)
	// One connection first, so that lazily started runtime goroutines
	// (the HTTP server's, the timers') are part of the baseline.
	c := e.dial(t, nil)
	tg.next("ws.join")
	c.WriteClose(1000, "")
	c.ReadClose()
	c.Close()
	tg.next("ws.leave")
	poll.Until(t, timeout, "the first connection to end", func() bool { return e.rl.Connections() == 0 && e.node.Stats().Processes == 1 })
	base := leakcheck.Snapshot()
	baseProcs := e.node.Stats().Processes

	const cycles = 2000
	for i := range cycles {
		c := e.dial(t, nil)
		join := tg.next("ws.join")
		if err := c.WriteText("ping"); err != nil {
			t.Fatal(err)
		}
		if s, err := c.ReadText(); err != nil || s != "ping" {
			t.Fatalf("cycle %d: echo %q %v", i, s, err)
		}
		tg.next("ws.message")
		switch i % 3 {
		case 0: // a clean close
			c.WriteClose(1000, "")
			c.ReadClose()
		case 1: // the client vanishes
		case 2: // the server closes
			tg.send(str(join, "client_pid"), "ws.close", value.Nil())
			c.ReadClose()
		}
		c.Close()
		tg.next("ws.leave")
	}
	poll.Until(t, 30*time.Second, "every connection to end", func() bool {
		return e.rl.Connections() == 0 && e.node.Stats().Processes == baseProcs
	})
	if err := leakcheck.Check(base, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// TestIdleConnectionHasOnlyItsReader: an idle connection costs one
// goroutine (the socket's reader); its process has none while idle.
func TestIdleConnectionHasOnlyItsReader(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(false)
	e.relayTo(tg.pid, "")
	warm := e.dial(t, nil) // the HTTP server's own goroutines start with the first connection
	tg.next("ws.join")
	warm.WriteText("x")
	tg.next("ws.message")
	before := runtime.NumGoroutine()
	const n = 50
	for range n {
		c := e.dial(t, nil)
		tg.next("ws.join")
		c.WriteText("x") // the connection has relayed, and is idle again
		tg.next("ws.message")
	}
	poll.Until(t, timeout, "idle connections to settle at one goroutine each", func() bool {
		return runtime.NumGoroutine()-before == n
	})
}
