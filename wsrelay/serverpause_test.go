package wsrelay_test

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// The time the server itself holds a client back (its target does not
// take its frames, what waits to be written to it is over the pause
// budget, or it waits for the node's inbound budget) does not count
// toward read.timeout nor toward the ping/pong deadline (docs/relay.md,
// "When the server holds a client back").

// Short deadlines, so that a pause of pauseFor outlasts them all.
const (
	pauseRead = 300 * time.Millisecond
	pausePing = 200 * time.Millisecond
	pausePong = 200 * time.Millisecond
	pauseFor  = 3 * (pausePing + pausePong)
)

// closings counts the connections that ended, by reason, and the pauses.
type closings struct {
	pauses
	closed atomic.Int64
	reason atomic.Value // the last reason
}

func (m *closings) Closed(reason string) { m.closed.Add(1); m.reason.Store(reason) }

// lag makes the target take nothing, a hub that lags, until the
// returned function has been called and pauseFor has passed since: the
// length of the server's pause is the scenario (longer than every
// deadline of the client), not a wait for an event. The lag ends with the
// test at the latest.
func lag(t *testing.T, tg *proctest.Probe) (endAfterPause func()) {
	release, started := make(chan struct{}), make(chan struct{})
	var once sync.Once
	end := func() { once.Do(func() { close(release) }) }
	t.Cleanup(end)
	go tg.Run(func(*process.Process) { close(started); <-release })
	<-started
	return func() { time.AfterFunc(pauseFor, end) }
}

// readWhole reads the next data message, joining its fragments,
// inflating it when it is compressed, and answering pings.
func readWhole(c *wsclient.Client) ([]byte, error) {
	var msg []byte
	compressed := false
	for {
		f, err := c.ReadFrame()
		switch {
		case err != nil:
			return nil, err
		case f.Op == wsclient.OpClose:
			return nil, wsclient.ErrClosed
		case f.Op == wsclient.OpPing:
			if err := c.WriteFrame(true, 0, wsclient.OpPong, f.Payload, true); err != nil {
				return nil, err
			}
			continue
		case f.Op == wsclient.OpPong:
			continue
		case f.Op != wsclient.OpContinuation:
			compressed = f.Rsv&4 != 0
		}
		msg = append(msg, f.Payload...)
		if !f.Fin {
			continue
		}
		if !compressed {
			return msg, nil
		}
		return io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(msg), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}))))
	}
}

// reader reads a client's messages in the background (readWhole) and
// hands them over; it ends with the connection.
func reader(c *wsclient.Client) <-chan []byte {
	out := make(chan []byte, 64)
	go func() {
		defer close(out)
		for {
			data, err := readWhole(c)
			if err != nil {
				return
			}
			out <- data
		}
	}()
	return out
}

// TestServerPauseKeepsClient: a client whose target stops taking its
// frames for longer than read.timeout and ping.interval + pong.timeout
// together keeps its connection, with a fragmented message begun in the
// same read as the frame that paused it, and every frame arrives in
// order (before, it was closed: as dead, its pongs unread, or with 1008
// "message not received whole" for the message begun before the pause).
// Once it goes silent on its own, it is taken for dead as before.
func TestServerPauseKeepsClient(t *testing.T) {
	m := &closings{}
	e := newEnv(t, wsrelay.Options{ReadTimeout: pauseRead, PingInterval: pausePing, PongTimeout: pausePong, InflightMaxBytes: 1, Metrics: m})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	tg.Next("ws.join")
	endAfterPause := lag(t, tg)
	// One write: a frame, which pauses the reader (it is in flight and
	// the target takes nothing), then the first fragment of a message.
	first := append(maskedFrame(0, wsclient.OpText, []byte("1")), fragments(wsclient.OpText, 1, 2, false)...)
	if _, err := c.Conn.Write(first); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "the reader to pause", func() bool { return m.mailbox.Load() > 0 })
	endAfterPause()
	if err := c.WriteFrame(true, 0, wsclient.OpContinuation, []byte("b"), true); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"3", "4"} {
		if err := c.WriteText(s); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"1", "aab", "3", "4"}
	for _, w := range want {
		s, err := c.ReadText() // answers the pings meanwhile
		if err != nil || s != w {
			t.Fatalf("echo %q %v, want %q (closed: %v)", s, err, w, m.reason.Load())
		}
	}
	for _, w := range want {
		if got := str(tg.Next("ws.message"), "data"); got != w {
			t.Fatalf("the target got %q, want %q", got, w)
		}
	}
	if n := m.closed.Load(); n != 0 {
		t.Fatalf("the client was closed (%v)", m.reason.Load())
	}
	// Silent on its own now (it reads nothing, so it answers no ping),
	// while the relay is willing to read it: taken for dead as before.
	poll.Until(t, timeout, "the silent client to be closed", func() bool { return m.closed.Load() == 1 })
	if r := m.reason.Load(); r != wsrelay.ReasonTimeout {
		t.Fatalf("closed as %v, want timeout", r)
	}
}

// TestBudgetWaitKeepsClient: a client whose large frame waits for the
// node's inbound budget, spent by another connection, for longer than
// ping.interval + pong.timeout keeps its connection, and so does the
// other connection, held back with its inflated message's share while
// its target lags; both messages arrive whole once the target takes
// them.
func TestBudgetWaitKeepsClient(t *testing.T) {
	const size = 64 << 10
	budget := wsrelay.NewBudget(size + 8000)
	m := &closings{}
	e := newEnv(t, wsrelay.Options{Compression: true, MaxMessageSize: size, InflightMaxBytes: 1, InboundBudget: budget,
		ReadTimeout: pauseRead, PingInterval: pausePing, PongTimeout: pausePong, Metrics: m})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	a, b := deflateDial(t, e), e.dial(t, nil)
	tg.Next("ws.join")
	tg.Next("ws.join")
	endAfterPause := lag(t, tg)
	// a's message inflates to size bytes: it holds that share of the
	// budget while its reader is held back for the lagging target.
	bomb := bytes.Repeat([]byte("z"), size)
	if err := a.WriteFrame(true, 4, wsclient.OpBinary, compress(bomb), true); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "a's reader to pause with its share", func() bool { return m.mailbox.Load() > 0 && budget.InUse() >= size })
	big := bytes.Repeat([]byte("b"), 60000)
	if err := b.WriteBinary(big); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "b to wait for the budget", func() bool { return budget.Waiting() == 1 })
	endAfterPause()
	ra, rb := reader(a), reader(b)
	for _, x := range []struct {
		name string
		r    <-chan []byte
		want []byte
	}{{"a", ra, bomb}, {"b", rb, big}} {
		select {
		case got, ok := <-x.r:
			if !ok || !bytes.Equal(got, x.want) {
				t.Fatalf("%s: echo of %d bytes (open: %v), want %d (closed: %v)", x.name, len(got), ok, len(x.want), m.reason.Load())
			}
		case <-time.After(timeout):
			t.Fatalf("%s: no echo", x.name)
		}
	}
	if n := m.closed.Load(); n != 0 {
		t.Fatalf("a client was closed (%v)", m.reason.Load())
	}
	poll.Until(t, timeout, "the budget to be given back", func() bool { return budget.InUse() == 0 })
}

// TestClientThatNeverReadsIsClosed: the server holds back a client whose
// echoes wait to be written; one that never reads them is still closed,
// by write.timeout as a slow consumer (its write cannot finish), not left
// open for as long as it does not read.
func TestClientThatNeverReadsIsClosed(t *testing.T) {
	m := &closings{}
	e := newEnv(t, wsrelay.Options{WriteTimeout: 2 * (pausePing + pausePong), PingInterval: pausePing, PongTimeout: pausePong,
		OutboundPauseBytes: 64 << 10, InflightMaxBytes: 64 << 10, Metrics: m})
	le := newLeanEcho(t, e)
	e.relayTo(le.pid, "")
	c := e.dial(t, nil)
	recv(t, le.joins, "ws.join")
	frame := strings.Repeat("x", 32<<10)
	go func() {
		for c.WriteText(frame) == nil {
		}
	}()
	leave := recv(t, le.leaves, "ws.leave")
	if r := str(leave, "reason"); r != wsrelay.ReasonSlowConsumer {
		t.Fatalf("ws.leave reason %q (%v), want slow_consumer", r, leave.Payload)
	}
	if m.outbound.Load() == 0 {
		t.Errorf("the reader never paused for what waits to be written")
	}
}

// TestInflatedShareBackOnceTaken: an inflated message gives its share of
// the inbound budget back once its target has taken it, even while its
// client is still held back because what waits to be written to it is
// over the pause budget (before, the share stayed until the client had
// read that down: a client reading slowly kept it for as long as it
// liked, and now that such a client is no longer taken for dead, without
// limit).
func TestInflatedShareBackOnceTaken(t *testing.T) {
	const size, big = 64 << 10, 16 << 20
	budget := wsrelay.NewBudget(size + 8000)
	m := &closings{}
	e := newEnv(t, wsrelay.Options{Compression: true, MaxMessageSize: size, InboundBudget: budget, WriteTimeout: 4 * timeout, Metrics: m})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := deflateDial(t, e)
	// A fixed, small receive buffer (the kernel would otherwise grow it
	// to tens of MiB).
	if err := c.Conn.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	client := str(tg.Next("ws.join"), "client_pid")
	// A frame far larger than the socket buffers (and that does not
	// compress), which the client does not read yet: its write cannot
	// finish, and what waits for the client stays over the pause budget.
	noise := make([]byte, big)
	rand.Read(noise)
	tg.Send(client, "ws.send", value.Map(value.Field{Key: "type", Value: value.String("binary")}, value.Field{Key: "data", Value: value.BytesString(string(noise))}))
	poll.Until(t, timeout, "the large frame to wait for the client", func() bool { return e.rl.OutboundBytes() == big })
	bomb := bytes.Repeat([]byte("z"), size)
	if err := c.WriteFrame(true, 4, wsclient.OpBinary, compress(bomb), true); err != nil {
		t.Fatal(err)
	}
	if got, _ := field(tg.Next("ws.message"), "data").([]byte); len(got) != size {
		t.Fatalf("the target got %d bytes, want %d", len(got), size)
	}
	poll.Until(t, timeout, "the reader to be held back for what waits for the client", func() bool { return m.outbound.Load() > 0 })
	poll.Until(t, timeout, "the taken message's share to be given back", func() bool { return budget.InUse() == 0 })
	if got, err := readWhole(c); err != nil || !bytes.Equal(got, noise) {
		t.Fatalf("the large frame: %d bytes, %v", len(got), err)
	}
	if n := m.closed.Load(); n != 0 {
		t.Fatalf("the client was closed (%v)", m.reason.Load())
	}
}
