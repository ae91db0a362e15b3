package wsrelay_test

import (
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// TestCloseAfterQueuedFrames: a client that breaks the protocol while
// the writer is in the middle of a batch of frames to it gets every
// frame queued before, then its close frame with the code (1002), not a
// cut connection (1006).
func TestCloseAfterQueuedFrames(t *testing.T) {
	e := newEnv(t, wsrelay.Options{OutboundMaxBytes: 64 << 20, OutboundQueue: 1024})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client := str(tg.Next("ws.join"), "client_pid")
	const frames = 256
	chunk := strings.Repeat("x", 64<<10)
	for range frames { // 16 MiB: more than the socket takes while the client does not read
		tg.Send(client, "ws.send", value.String(chunk))
	}
	clientPID, err := pid.Parse(client)
	if err != nil {
		t.Fatal(err)
	}
	// Every frame is in the outbound queue (the connection's process has
	// handled them all), and the writer waits on the client.
	poll.Until(t, timeout, "the frames to be queued and the writer to wait", func() bool {
		return e.node.MailboxLen(clientPID) == 0 && countStacks("process.(*Process).drain") == 0 && e.rl.OutboundBytes() > 0
	})
	if err := c.WriteFrame(true, 2, wsclient.OpText, []byte("x"), true); err != nil { // RSV2
		t.Fatal(err)
	}
	tg.Next("ws.leave") // the reader has refused the frame
	for i := range frames {
		s, err := c.ReadText()
		if err != nil || len(s) != len(chunk) {
			t.Fatalf("frame %d of %d: %d bytes, %v", i, frames, len(s), err)
		}
	}
	wantClose(t, c, 1002, "RSV2")
}
