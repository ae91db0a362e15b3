package wsrelay_test

import (
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// TestCloseThenSendWhileOwnerBusy: a ws.close handled while the
// connection's owner runs another event (the reader's, a timer's) still
// comes before a ws.send the process handles after it: the client gets
// the close frame, and not the frame sent after it.
func TestCloseThenSendWhileOwnerBusy(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client := mustPID(str(tg.Next("ws.join"), "client_pid"))
	release := wsrelay.HoldOwner(e.rl, client)
	_ = e.node.Send(pid.PID{}, client, wsrelay.TopicClose, value.Map(value.Field{Key: "code", Value: value.Int(4000)}))
	_ = e.node.Send(pid.PID{}, client, wsrelay.TopicSend, value.Map(value.Field{Key: "data", Value: value.String("after the close")}))
	poll.Until(t, timeout, "the process to take the ws.close", func() bool { return e.node.MailboxLen(client) <= 1 })
	release()
	f, err := c.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	if f.Op != wsclient.OpClose || f.CloseCode() != 4000 {
		t.Fatalf("the client got %v %q first, want the close frame 4000", f.Op, f.Payload)
	}
}
