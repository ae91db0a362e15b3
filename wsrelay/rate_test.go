package wsrelay_test

import (
	"bytes"
	"testing"

	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// leaveOf drains what tg receives (a flood would fill its probe and drop
// the leave) and returns a channel that gets its first ws.leave.
func leaveOf(t *testing.T, tg *proctest.Probe) <-chan process.Message {
	t.Helper()
	leave := make(chan process.Message, 1)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	go func() {
		for {
			select {
			case m := <-tg.Msgs:
				if m.Topic == "ws.leave" {
					leave <- m
					return
				}
			case <-done:
				return
			}
		}
	}()
	return leave
}

// flood writes batch until the connection fails or n batches went out.
func flood(c *wsclient.Client, batch []byte, n int) {
	for range n {
		if _, err := c.Conn.Write(batch); err != nil {
			return
		}
	}
}

// TestHostileFrameRate: a client that keeps sending frames faster than
// MaxFrameRate is closed with 1008, and its target is told so; the
// server serves others.
func TestHostileFrameRate(t *testing.T) {
	e := newEnv(t, wsrelay.Options{MaxFrameRate: 1000})
	tg := e.target(false)
	leave := leaveOf(t, tg)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	var batch []byte
	for range 100 {
		batch = append(batch, maskedFrame(0, wsclient.OpText, []byte("x"))...)
	}
	go flood(c, batch, 2000) // 200,000 frames: well past a second's worth, however slow the machine
	wantClose(t, c, 1008, "frames a second")
	c.Close()
	if m := <-leave; field(m, "code") != int64(1008) || str(m, "reason") != "error" {
		t.Fatalf("ws.leave %v", m.Payload)
	}
	e.relayTo(e.target(true).PID, "")
	e.stillServes(t)
}

// TestHostileInflateRate: with compression, a client whose small
// messages keep inflating to more than MaxInflateRate bytes a second is
// closed with 1008; one message of MaxMessageSize still passes.
func TestHostileInflateRate(t *testing.T) {
	const size = 64 << 10
	e := newEnv(t, wsrelay.Options{Compression: true, MaxMessageSize: size, MaxInflateRate: 2 * size})
	tg := e.target(false)
	leave := leaveOf(t, tg)
	e.relayTo(tg.PID, "")
	c := deflateDial(t, e)
	bomb := maskedFrame(4, wsclient.OpBinary, compress(bytes.Repeat([]byte{'z'}, size))) // about 100 bytes
	go flood(c, bomb, 100000)                                                            // 6.5 GB inflated, at most
	wantClose(t, c, 1008, "inflating to more than")
	c.Close()
	if m := <-leave; field(m, "code") != int64(1008) || str(m, "reason") != "error" {
		t.Fatalf("ws.leave %v", m.Payload)
	}
	e.relayTo(e.target(true).PID, "")
	e.stillServes(t)
}
