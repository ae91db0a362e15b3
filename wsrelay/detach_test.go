package wsrelay_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// detachEnv is a relay with an echo target, one client connected, and a
// server whose handshakes attach their sockets to that client's
// connection.
type detachEnv struct {
	*env
	target *proctest.Probe
	client pid.PID
	first  *wsclient.Client
	attach string     // ws:// URL of the attaching server
	errs   chan error // what each attach said
}

func newDetachEnv(t *testing.T, opts wsrelay.Options) *detachEnv {
	t.Helper()
	e := newEnv(t, opts)
	d := &detachEnv{env: e, target: e.target(true), errs: make(chan error, 4)}
	e.relayTo(d.target.PID, "")
	d.first = e.dial(t, nil)
	var err error
	if d.client, err = pid.Parse(str(d.target.Next("ws.join"), "client_pid")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		d.errs <- wsrelay.Attach(ctx, e.rl, d.client, w, r)
	}))
	t.Cleanup(srv.Close)
	d.attach = "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
	return d
}

// dialAttach opens a socket to be attached, and returns it with what the
// attach said (a connection the relay no longer has is not upgraded).
func (d *detachEnv) dialAttach(t *testing.T) (*wsclient.Client, error) {
	t.Helper()
	c, _, err := wsclient.Dial(d.attach, nil)
	if err == nil {
		t.Cleanup(func() { c.Close() })
	}
	return c, <-d.errs
}

// detach detaches the client's socket, trying again while a write to it
// is under way (detach refuses then).
func (d *detachEnv) detach(t *testing.T, limit time.Duration) {
	t.Helper()
	var err error
	poll.Until(t, timeout, "a detach not refused for a write under way", func() bool {
		err = wsrelay.Detach(d.rl, d.client, limit)
		return err == nil || !strings.Contains(err.Error(), "write to the client is under way")
	})
	if err != nil {
		t.Fatalf("detach: %v", err)
	}
}

// send has the target send text to the client.
func (d *detachEnv) send(text string) {
	d.target.Send(d.client.String(), wsrelay.TopicSend, value.Map(value.Field{Key: "data", Value: value.String(text)}))
}

// info returns the connection as observers see it.
func (d *detachEnv) info(t *testing.T) wsrelay.ConnInfo {
	t.Helper()
	var found *wsrelay.ConnInfo
	d.rl.EachConnection(func(ci wsrelay.ConnInfo) bool {
		if ci.PID == d.client {
			found = &ci
		}
		return true
	})
	if found == nil {
		t.Fatalf("the relay has no connection %s", d.client)
	}
	return *found
}

// TestDetachAndAttach: a connection whose socket is detached keeps its
// process (PID, target, state); what its target sends meanwhile waits, and
// reaches the socket attached later first, in order; the new socket's
// frames go on to the same target, and the frames are counted on each
// way from where they were.
func TestDetachAndAttach(t *testing.T) {
	d := newDetachEnv(t, wsrelay.Options{})
	if err := d.first.WriteText("one"); err != nil {
		t.Fatal(err)
	}
	if s, err := d.first.ReadText(); err != nil || s != "one" {
		t.Fatalf("echo: %q %v", s, err)
	}
	d.detach(t, timeout)
	if _, err := d.first.ReadFrame(); err == nil {
		t.Fatal("the detached socket is still open")
	}
	if err := wsrelay.Detach(d.rl, d.client, timeout); err == nil || !strings.Contains(err.Error(), "detached already") {
		t.Fatalf("a second detach: %v", err)
	}
	if !d.node.Alive(d.client) {
		t.Fatal("the connection's process ended with its socket")
	}
	if ci := d.info(t); ci.Target != d.target.PID || ci.State != "open" {
		t.Fatalf("detached: %+v", ci)
	}
	const held = 5
	size := 0
	for i := range held {
		text := fmt.Sprintf("held %d", i)
		size += len(text)
		d.send(text)
	}
	poll.Until(t, timeout, "the frames to wait for a socket", func() bool { return d.rl.OutboundBytes() == int64(size) })

	second, err := d.dialAttach(t)
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	for i := range held {
		want := fmt.Sprintf("held %d", i)
		if s, err := second.ReadText(); err != nil || s != want {
			t.Fatalf("frame %d on the attached socket: %q %v, want %q", i, s, err, want)
		}
	}
	if err := second.WriteText("two"); err != nil {
		t.Fatal(err)
	}
	if s, err := second.ReadText(); err != nil || s != "two" {
		t.Fatalf("echo on the attached socket: %q %v", s, err)
	}
	if m := d.target.Next("ws.message"); str(m, "data") != "one" {
		t.Fatalf("the target got %v", m.Payload)
	}
	if m := d.target.Next("ws.message"); str(m, "data") != "two" || str(m, "client_pid") != d.client.String() {
		t.Fatalf("the target got %v", m.Payload)
	}
	ci := d.info(t)
	if ci.Target != d.target.PID || ci.State != "open" || ci.FramesIn != 2 || ci.FramesOut != held+2 {
		t.Fatalf("attached: %+v (want 2 frames in, %d out)", ci, held+2)
	}
	// Attached, it ends as any connection does.
	if _, err := d.dialAttach(t); err == nil || !strings.Contains(err.Error(), "has one") {
		t.Fatalf("an attach to a connection with a socket: %v", err)
	}
	if err := second.WriteClose(1000, "bye"); err != nil {
		t.Fatal(err)
	}
	if m := d.target.Next("ws.leave"); str(m, "reason") != wsrelay.ReasonClientClosed {
		t.Fatalf("leave: %v", m.Payload)
	}
	d.waitExit(d.client)
	poll.Until(t, timeout, "the connection to leave the relay", func() bool { return d.rl.Connections() == 0 })
}

// TestDetachedHoldsBoundedBytes: what waits for a detached connection's
// next socket is bounded as for a client that does not read: the frame
// that would take it past OutboundMaxBytes closes the connection as a
// slow consumer, and what waited is let go.
func TestDetachedHoldsBoundedBytes(t *testing.T) {
	const max, frame = 64 << 10, 4 << 10
	d := newDetachEnv(t, wsrelay.Options{OutboundMaxBytes: max, OutboundQueue: 1000, MaxMessageSize: 8 << 10, OutboundPauseBytes: 16 << 10, InflightMaxBytes: 16 << 10})
	d.detach(t, timeout)
	text := strings.Repeat("x", frame)
	for i := 1; ; i++ {
		d.send(text)
		poll.Until(t, timeout, "the frame to be held or refused", func() bool {
			return d.rl.OutboundBytes() == int64(i*frame) || !d.node.Alive(d.client)
		})
		if got := d.rl.OutboundBytes(); got > max {
			t.Fatalf("%d bytes held for a detached connection, over %d", got, max)
		}
		if !d.node.Alive(d.client) {
			if i != max/frame+1 {
				t.Fatalf("closed at frame %d; %d fit", i, max/frame)
			}
			break
		}
	}
	if m := d.target.Next("ws.leave"); str(m, "reason") != wsrelay.ReasonSlowConsumer {
		t.Fatalf("leave: %v", m.Payload)
	}
	poll.Until(t, timeout, "what waited to be let go", func() bool { return d.rl.OutboundBytes() == 0 && d.rl.Connections() == 0 })
}

// TestDetachedWithoutSocketEnds: a connection left without a socket for
// longer than detach allowed ends with reason timeout; its target gets
// ws.leave with it, and a socket that comes later is refused.
func TestDetachedWithoutSocketEnds(t *testing.T) {
	d := newDetachEnv(t, wsrelay.Options{})
	d.send("waits")
	if s, err := d.first.ReadText(); err != nil || s != "waits" {
		t.Fatalf("before the detach: %q %v", s, err)
	}
	d.detach(t, 50*time.Millisecond)
	d.send("never read")
	if m := d.target.Next("ws.leave"); str(m, "reason") != wsrelay.ReasonTimeout {
		t.Fatalf("leave: %v", m.Payload)
	}
	d.waitExit(d.client)
	poll.Until(t, timeout, "the connection to leave the relay", func() bool { return d.rl.Connections() == 0 && d.rl.OutboundBytes() == 0 })
	if _, err := d.dialAttach(t); err == nil {
		t.Fatal("a socket was attached to a connection that ended")
	}
}
