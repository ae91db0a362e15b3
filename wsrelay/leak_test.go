package wsrelay_test

import (
	"runtime"
	"strings"
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
	e.relayTo(tg.PID, `"heartbeat_interval":"1s"`)
	// One connection first, so that lazily started runtime goroutines
	// (the HTTP server's, the timers') are part of the baseline.
	c := e.dial(t, nil)
	tg.Next("ws.join")
	c.WriteClose(1000, "")
	c.ReadClose()
	c.Close()
	tg.Next("ws.leave")
	poll.Until(t, timeout, "the first connection to end", func() bool { return e.rl.Connections() == 0 && e.node.Stats().Processes == 1 })
	base := leakcheck.Snapshot()
	baseProcs := e.node.Stats().Processes

	const cycles = 2000
	for i := range cycles {
		c := e.dial(t, nil)
		join := tg.Next("ws.join")
		if err := c.WriteText("ping"); err != nil {
			t.Fatal(err)
		}
		if s, err := c.ReadText(); err != nil || s != "ping" {
			t.Fatalf("cycle %d: echo %q %v", i, s, err)
		}
		tg.Next("ws.message")
		switch i % 3 {
		case 0: // a clean close
			c.WriteClose(1000, "")
			c.ReadClose()
		case 1: // the client vanishes
		case 2: // the server closes
			tg.Send(str(join, "client_pid"), "ws.close", value.Nil())
			c.ReadClose()
		}
		c.Close()
		tg.Next("ws.leave")
	}
	poll.Until(t, 30*time.Second, "every connection to end", func() bool {
		return e.rl.Connections() == 0 && e.node.Stats().Processes == baseProcs
	})
	if err := leakcheck.Check(base, 30*time.Second); err != nil {
		t.Fatal(err)
	}
}

// goroutines returns the stacks of every goroutine.
func goroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		if k := runtime.Stack(buf, true); k < len(buf) {
			return strings.Split(string(buf[:k]), "\n\n")
		}
		buf = make([]byte, 2*len(buf))
	}
}
