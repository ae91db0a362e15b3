//go:build linux

package wsrelay_test

import (
	"context"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// readerGoroutines counts the goroutines reading client frames, and
// those of connection processes and writers at work.
func readerGoroutines() (readers, busy int) {
	for _, g := range goroutines() {
		switch {
		case strings.Contains(g, "wsrelay.(*inbound).run"):
			readers++
		case strings.Contains(g, "process.(*Process).drain"), strings.Contains(g, "wsrelay.(*conn).writeLoop"):
			busy++
		}
	}
	return readers, busy
}

// echoed sends s and reads its echo.
func echoed(t *testing.T, c *wsclient.Client, s string) {
	t.Helper()
	if err := c.WriteText(s); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ReadText(); err != nil || got != s {
		t.Fatalf("echo %q, %v; want %q", got, err, s)
	}
}

// TestIdleConnectionsHoldNoGoroutine: idle connections cost no goroutine
// (no reader, no process drain, no writer): the goroutines of the
// process grow by far less than one per connection. An idle connection
// that sends again is read and relayed.
func TestIdleConnectionsHoldNoGoroutine(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	// One connection first: the goroutines started once (the HTTP
	// server's, the poller's loop) are in the base count.
	first := e.dial(t, nil)
	tg.Next("ws.join")
	echoed(t, first, "first")
	tg.Next("ws.message")
	poll.Until(t, timeout, "the first connection to be idle", func() bool {
		readers, busy := readerGoroutines()
		return readers == 0 && busy == 0
	})
	base := runtime.NumGoroutine()

	const n = 300
	clients := make([]*wsclient.Client, n)
	for i := range clients {
		clients[i] = e.dial(t, nil)
		tg.Next("ws.join")
		echoed(t, clients[i], "hello")
		tg.Next("ws.message")
	}
	grown := 0
	poll.Until(t, timeout, "300 idle connections to hold no goroutine", func() bool {
		readers, busy := readerGoroutines()
		grown = runtime.NumGoroutine() - base
		return readers == 0 && busy == 0 && grown < n/10
	})
	t.Logf("%d idle connections: %d goroutines more", n, grown)
	for i, c := range clients {
		echoed(t, c, "again "+string(rune('a'+i%26)))
		tg.Next("ws.message")
	}
}

// openFDs counts the file descriptors the test process has open.
func openFDs(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd:", err)
	}
	return len(fds)
}

// TestIdleClientGoneEndsConnection: an idle client that goes away, with
// a FIN or with a reset, ends its connection as a read that fails does:
// ws.leave with reason client_closed and code 1006. The connections that
// end leave no file descriptor behind (the poller's own are closed once
// no socket is watched).
func TestIdleClientGoneEndsConnection(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	before := openFDs(t)
	for _, reset := range []bool{false, true} {
		const n = 20
		for range n {
			c := e.dial(t, nil)
			tg.Next("ws.join")
			echoed(t, c, "x")
			tg.Next("ws.message")
			poll.Until(t, timeout, "the connection to be idle", func() bool {
				readers, busy := readerGoroutines()
				return readers == 0 && busy == 0
			})
			if reset {
				_ = c.Conn.(*net.TCPConn).SetLinger(0) // close sends RST
			}
			c.Close()
			leave := nextLeave(tg)
			if str(leave, "reason") != wsrelay.ReasonClientClosed || field(leave, "code") != int64(1006) {
				t.Fatalf("reset %v: ws.leave %v", reset, leave.Payload)
			}
		}
	}
	poll.Until(t, timeout, "every connection to end", func() bool { return e.rl.Connections() == 0 })
	after := 0
	poll.Until(t, timeout, "the file descriptors to be closed", func() bool {
		after = openFDs(t)
		return after <= before
	})
}

// TestIdleServerCloseEndsReading: connections the server closes while
// they are idle (the target's ws.close) end whole: no connection, no
// reader and no file descriptor is left.
func TestIdleServerCloseEndsReading(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	before := openFDs(t)
	const n = 20
	clients := make([]*wsclient.Client, n)
	joins := make([]string, n)
	for i := range clients {
		clients[i] = e.dial(t, nil)
		joins[i] = str(tg.Next("ws.join"), "client_pid")
		echoed(t, clients[i], "x")
		tg.Next("ws.message")
	}
	poll.Until(t, timeout, "the connections to be idle", func() bool {
		readers, busy := readerGoroutines()
		return readers == 0 && busy == 0
	})
	for i, c := range clients {
		tg.Send(joins[i], "ws.close", value.Nil())
		if code, _, err := c.ReadClose(); err != nil || code != 1000 {
			t.Fatalf("close %d, %v; want 1000", code, err)
		}
		c.Close()
	}
	poll.Until(t, timeout, "every connection to end", func() bool { return e.rl.Connections() == 0 })
	poll.Until(t, timeout, "the file descriptors to be closed", func() bool { return openFDs(t) <= before })
}

// TestIdleThenStalledFrame: a connection that was idle and then starts a
// large frame and stops sending is closed with 1008 after ReadTimeout
// (reason timeout), as any other.
func TestIdleThenStalledFrame(t *testing.T) {
	e := newEnv(t, wsrelay.Options{ReadTimeout: 200 * time.Millisecond})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	tg.Next("ws.join")
	echoed(t, c, "x")
	poll.Until(t, timeout, "the connection to be idle", func() bool {
		readers, busy := readerGoroutines()
		return readers == 0 && busy == 0
	})
	c.Conn.Write(append(header(true, 0, wsclient.OpBinary, 10000), make([]byte, 100)...))
	wantClose(t, c, 1008, "within 200ms")
	leave := nextLeave(tg)
	if str(leave, "reason") != "timeout" || field(leave, "code") != int64(1008) {
		t.Errorf("ws.leave %v", leave.Payload)
	}
}

// TestShutdownIdleConnections: Shutdown closes idle connections with
// 1001 and returns once their reading has ended (leakcheck in TestMain
// finds any goroutine left).
func TestShutdownIdleConnections(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	const n = 30
	clients := make([]*wsclient.Client, n)
	for i := range clients {
		clients[i] = e.dial(t, nil)
		tg.Next("ws.join")
		echoed(t, clients[i], "x")
		tg.Next("ws.message")
	}
	poll.Until(t, timeout, "the connections to be idle", func() bool {
		readers, busy := readerGoroutines()
		return readers == 0 && busy == 0
	})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	e.rl.Shutdown(ctx)
	if got := e.rl.Connections(); got != 0 {
		t.Fatalf("%d connections after Shutdown", got)
	}
	for _, c := range clients {
		if code, _, err := c.ReadClose(); err != nil || code != 1001 {
			t.Fatalf("close %d, %v; want 1001", code, err)
		}
	}
}
