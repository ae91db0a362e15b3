package wsrelay_test

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
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

// Hostile clients: what a client sends can end its own connection, with
// a close code that says why, and nothing else. Each test also checks
// that the server still serves a new client.

// testKey is the mask key of the frames the tests write by hand.
var testKey = [4]byte{0x11, 0x22, 0x33, 0x44}

// header is a masked frame header announcing length bytes.
func header(fin bool, rsv, op byte, length uint64) []byte {
	return wsclient.AppendHeader(nil, fin, rsv, op, length, &testKey)
}

// maskedFrame is a whole client frame (header and masked payload).
func maskedFrame(rsv, op byte, payload []byte) []byte {
	f := header(true, rsv, op, uint64(len(payload)))
	key := f[len(f)-4:]
	for i, b := range payload {
		f = append(f, b^key[i%4])
	}
	return f
}

// stillServes checks that a new client is relayed and echoed.
func (e *env) stillServes(t *testing.T) {
	t.Helper()
	c := e.dial(t, nil)
	defer c.Close()
	if err := c.WriteText("still there?"); err != nil {
		t.Fatal(err)
	}
	if s, err := c.ReadText(); err != nil || s != "still there?" {
		t.Fatalf("a new client after the attack: %q %v", s, err)
	}
}

// nextLeave skips to the target's next ws.leave.
func nextLeave(tg *proctest.Probe) process.Message {
	for {
		if m := tg.Recv(); m.Topic == "ws.leave" {
			return m
		}
	}
}

func wantClose(t *testing.T, c *wsclient.Client, code int, reasonHas string) {
	t.Helper()
	got, reason, err := c.ReadClose()
	if err != nil {
		t.Fatalf("want close %d, got no close frame: %v", code, err)
	}
	if got != code || !strings.Contains(reason, reasonHas) {
		t.Fatalf("close %d %q, want %d with %q", got, reason, code, reasonHas)
	}
}

// TestHostileTopBitLength: the 14-byte header whose 64-bit length has the
// top bit set (it made the library panic and the process exit) closes
// that connection with 1002, is logged with the client's address, and the
// server carries on.
func TestHostileTopBitLength(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	// A good frame and the bad header in one write: the good one is
	// relayed, then the connection fails.
	attack := append(maskedFrame(0, wsclient.OpText, []byte("before")), header(true, 0, wsclient.OpBinary, 1<<63)...)
	if _, err := c.Conn.Write(attack); err != nil {
		t.Fatal(err)
	}
	wantClose(t, c, 1002, "64-bit payload length")
	tg.Next("ws.join")
	if m := tg.Next("ws.message"); str(m, "data") != "before" {
		t.Errorf("ws.message %v", m.Payload)
	}
	leave := tg.Next("ws.leave")
	if str(leave, "reason") != "error" || field(leave, "code") != int64(1002) {
		t.Errorf("ws.leave %v", leave.Payload)
	}
	// The line is written once the connection has ended, which the
	// target may hear of first.
	poll.Until(t, timeout, "the log to name the client's address "+c.Conn.LocalAddr().String(), func() bool {
		return strings.Contains(e.logs.String(), c.Conn.LocalAddr().String())
	})
	e.stillServes(t)
}

// TestHostileOversizeAnnounced: a header announcing more than
// MaxMessageSize is refused with 1009 at once, without waiting for (or
// reserving) the payload.
func TestHostileOversizeAnnounced(t *testing.T) {
	e := newEnv(t, wsrelay.Options{MaxMessageSize: 1 << 20})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	c.Conn.Write(header(true, 0, wsclient.OpBinary, 1<<20+1))
	wantClose(t, c, 1009, "at most 1048576")
	c2 := e.dial(t, nil)
	c2.Conn.Write(append(header(false, 0, wsclient.OpText, 600<<10), make([]byte, 600<<10)...))
	c2.Conn.Write(header(true, 0, wsclient.OpContinuation, 600<<10))
	wantClose(t, c2, 1009, "message of over")
	e.stillServes(t)
}

// TestHostileAnnouncedNotReserved: 500 connections each announce a 1 MiB
// frame and send nothing more: 500 MiB announced, and the server's heap
// grows by a few MiB, since nothing is allocated for bytes that have not
// arrived. The budget counts what is announced, and is given back when
// the connections close.
func TestHostileAnnouncedNotReserved(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 500 connections")
	}
	const conns = 500
	budget := wsrelay.NewBudget(1 << 30)
	e := newEnv(t, wsrelay.Options{InboundBudget: budget})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	clients := make([]*wsclient.Client, conns)
	for i := range clients {
		clients[i] = e.dial(t, nil)
	}
	base := heapAlloc()
	for _, c := range clients {
		if _, err := c.Conn.Write(append(header(true, 0, wsclient.OpBinary, 1<<20), 1, 2, 3)); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, timeout, "every announced frame to be taken from the budget", func() bool { return budget.InUse() == conns<<20 })
	grew := int64(heapAlloc()) - int64(base)
	t.Logf("%d connections announcing 1 MiB: heap grew by %.1f MiB", conns, float64(grew)/(1<<20))
	if grew > 64<<20 {
		t.Fatalf("heap grew by %d MiB for %d MiB announced", grew>>20, conns)
	}
	for _, c := range clients {
		c.Close()
	}
	poll.Until(t, timeout, "the budget to be given back", func() bool { return budget.InUse() == 0 })
	e.stillServes(t)
}

// TestHostileStalledFrame: a client that starts a large frame and stops
// sending is closed with 1008 after ReadTimeout (reason timeout), and so
// is one that leaves a fragmented message unfinished.
func TestHostileStalledFrame(t *testing.T) {
	e := newEnv(t, wsrelay.Options{ReadTimeout: 200 * time.Millisecond})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	c.Conn.Write(append(header(true, 0, wsclient.OpBinary, 10000), make([]byte, 100)...))
	wantClose(t, c, 1008, "within 200ms")
	leave := nextLeave(tg)
	if str(leave, "reason") != "timeout" || field(leave, "code") != int64(1008) {
		t.Errorf("ws.leave %v", leave.Payload)
	}
	c2 := e.dial(t, nil)
	c2.WriteFrame(false, 0, wsclient.OpText, []byte("part"), true)
	wantClose(t, c2, 1008, "within 200ms")
	e.stillServes(t)
}

// TestHostileBudgetPauses: while held frames fill the node's budget,
// another client's large frame waits unread; it goes on when room is
// given back, and both are echoed whole.
func TestHostileBudgetPauses(t *testing.T) {
	budget := wsrelay.NewBudget(64 << 10)
	e := newEnv(t, wsrelay.Options{InboundBudget: budget})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	a, b := e.dial(t, nil), e.dial(t, nil)
	pa, pb := bytes.Repeat([]byte{'a'}, 60000), bytes.Repeat([]byte{'b'}, 60000)
	fa := maskedFrame(0, wsclient.OpBinary, pa)
	a.Conn.Write(fa[:100])
	poll.Until(t, timeout, "a's frame to take its size from the budget", func() bool { return budget.InUse() == 60000 })
	b.Conn.Write(maskedFrame(0, wsclient.OpBinary, pb))
	poll.Until(t, timeout, "b to wait for room", func() bool { return budget.Waiting() == 1 })
	if n := budget.InUse(); n != 60000 {
		t.Fatalf("budget in use %d while b waits", n)
	}
	a.Conn.Write(fa[100:])
	for _, x := range []struct {
		c    *wsclient.Client
		want []byte
	}{{a, pa}, {b, pb}} {
		if _, data, err := x.c.ReadMessage(); err != nil || !bytes.Equal(data, x.want) {
			t.Fatalf("echo of %d bytes, %v", len(data), err)
		}
	}
	poll.Until(t, timeout, "the budget to be given back", func() bool { return budget.InUse() == 0 })
}

// deflateDial opens a connection that negotiates permessage-deflate.
func deflateDial(t *testing.T, e *env) *wsclient.Client {
	t.Helper()
	c, resp, err := wsclient.Dial(e.url, http.Header{"Sec-Websocket-Extensions": {"permessage-deflate; client_no_context_takeover; server_no_context_takeover"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if !strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		t.Fatalf("compression not negotiated: %v", resp.Header)
	}
	return c
}

// compress is a permessage-deflate payload of data.
func compress(data []byte) []byte {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestCompression)
	w.Write(data)
	w.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// readInflated reads a message, inflating it when it is compressed.
func readInflated(c *wsclient.Client) ([]byte, error) {
	f, err := c.ReadFrame()
	if err != nil || f.Rsv&4 == 0 {
		return f.Payload, err
	}
	return io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(f.Payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff}))))
}

// TestHostileCompressedBomb: with compression on, a message that inflates
// past MaxMessageSize closes with 1009 (not 1011: it is the client's
// doing); one under it, whole or in fragments, is echoed.
func TestHostileCompressedBomb(t *testing.T) {
	e := newEnv(t, wsrelay.Options{Compression: true, MaxMessageSize: 100000})
	tg := e.target(true)
	e.relayTo(tg.PID, "")

	ok := deflateDial(t, e)
	text := strings.Repeat("compressible ", 5000) // 65,000 bytes
	z := compress([]byte(text))
	ok.WriteFrame(true, 4, wsclient.OpText, z, true)
	if got, err := readInflated(ok); err != nil || string(got) != text {
		t.Fatalf("compressed echo: %d bytes, %v", len(got), err)
	}
	ok.WriteFrame(false, 4, wsclient.OpText, z[:len(z)/2], true)
	ok.WriteFrame(true, 0, wsclient.OpContinuation, z[len(z)/2:], true)
	if got, err := readInflated(ok); err != nil || string(got) != text {
		t.Fatalf("fragmented compressed echo: %d bytes, %v", len(got), err)
	}

	bomb := compress(make([]byte, 10<<20)) // 10 MiB of zeros: about 10 KiB
	c := deflateDial(t, e)
	c.WriteFrame(true, 4, wsclient.OpBinary, bomb, true)
	wantClose(t, c, 1009, "decompressed")
	if leave := nextLeave(tg); field(leave, "code") != int64(1009) || str(leave, "reason") != "error" {
		t.Fatalf("ws.leave %v", leave.Payload)
	}
	e.stillServes(t)
}

// TestHostilePingFlood: a client that floods pings and reads gets pongs
// (coalesced: the last answers the latest ping), and keeps its
// connection; it is not closed as a slow consumer.
func TestHostilePingFlood(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	const pings = 5000
	var flood []byte
	for i := range pings {
		flood = append(flood, maskedFrame(0, wsclient.OpPing, fmt.Appendf(nil, "%d", i))...)
	}
	flood = append(flood, maskedFrame(0, wsclient.OpText, []byte("after the flood"))...)
	go c.Conn.Write(flood)
	pongs, last := 0, ""
	for {
		f, err := c.ReadFrame()
		if err != nil {
			t.Fatalf("after %d pongs: %v", pongs, err)
		}
		if f.Op == wsclient.OpPong {
			pongs++
			last = string(f.Payload)
			continue
		}
		if f.Op != wsclient.OpText || string(f.Payload) != "after the flood" {
			t.Fatalf("after %d pongs: op %d %q", pongs, f.Op, f.Payload)
		}
		break
	}
	if pongs == 0 || pongs > pings || last != fmt.Sprint(pings-1) {
		t.Fatalf("%d pongs, the last for ping %q", pongs, last)
	}
	t.Logf("%d pings answered by %d pongs", pings, pongs)
	if err := c.WriteText("still open"); err != nil {
		t.Fatal(err)
	}
	if s, err := c.ReadText(); err != nil || s != "still open" {
		t.Fatalf("%q %v", s, err)
	}
}

// FuzzHostileFrames sends any bytes after a valid handshake (with
// compression negotiated) to a live server: the connection may end, but
// the server always answers a new client. Its seed corpus runs in every
// `go test`.
func FuzzHostileFrames(f *testing.F) {
	frag := append(maskedFrame(0, wsclient.OpText, nil)[:0:0], header(false, 0, wsclient.OpText, 3)...)
	frag = append(frag, 'a', 'b', 'c')
	for _, seed := range [][]byte{
		header(true, 0, wsclient.OpBinary, 1<<63),
		header(true, 0, wsclient.OpBinary, 1<<62),
		header(true, 0, wsclient.OpBinary, 1<<20),
		append(header(true, 0, wsclient.OpBinary, 5000), 1, 2, 3),
		maskedFrame(0, wsclient.OpText, []byte("hello")),
		maskedFrame(4, wsclient.OpText, compress([]byte("hello hello hello"))),
		maskedFrame(4, wsclient.OpBinary, compress(make([]byte, 1<<21))),
		maskedFrame(4, wsclient.OpText, []byte("not deflate")),
		maskedFrame(2, wsclient.OpText, []byte("rsv2")),
		maskedFrame(0, 0x9, bytes.Repeat([]byte{'p'}, 126)),
		maskedFrame(0, 0x8, []byte{3}),
		maskedFrame(0, 0x3, nil),
		frag,
		append(frag, maskedFrame(0, wsclient.OpText, []byte("x"))...),
		{0x81, 0x05, 'h', 'e', 'l', 'l', 'o'},
		{0x81},
		{},
	} {
		f.Add(seed)
	}
	random := make([]byte, 300)
	rand.Read(random)
	f.Add(random)
	e := newEnv(f, wsrelay.Options{Compression: true, MaxMessageSize: 1 << 20, ReadTimeout: time.Second})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	f.Fuzz(func(t *testing.T, data []byte) {
		c := deflateDial(t, e)
		c.Conn.Write(data)
		c.Conn.(*net.TCPConn).CloseWrite()
		for {
			if _, err := c.ReadFrame(); err != nil {
				break // the server closed: what it sent before does not matter
			}
		}
		c.Close()
		e.stillServes(t)
		if strings.Contains(e.logs.String(), "panic") {
			t.Fatalf("the server panicked:\n%s", e.logs.String())
		}
	})
}

// panicMetrics panics when it counts a frame of 13 bytes: a stand-in for
// a bug that client bytes reach.
type panicMetrics struct{}

func (panicMetrics) Opened()       {}
func (panicMetrics) Closed(string) {}
func (panicMetrics) FrameOut(int)  {}
func (panicMetrics) Paused(string) {}
func (panicMetrics) FrameIn(n int) {
	if n == 13 {
		panic("a bug reached by 13 bytes")
	}
}

// TestHostilePanicEndsOneConnection: a panic while handling a client's
// frame ends that connection alone, with 1011, and is logged with the
// client's address; the other clients carry on.
func TestHostilePanicEndsOneConnection(t *testing.T) {
	e := newEnv(t, wsrelay.Options{Metrics: panicMetrics{}})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	other := e.dial(t, nil)
	c := e.dial(t, nil)
	c.WriteText("13 bytes, bug")
	wantClose(t, c, 1011, "internal error")
	if leave := nextLeave(tg); field(leave, "code") != int64(1011) || str(leave, "reason") != "error" {
		t.Errorf("ws.leave %v", leave.Payload)
	}
	if logs := e.logs.String(); !strings.Contains(logs, "a bug reached by 13 bytes") || !strings.Contains(logs, c.Conn.LocalAddr().String()) {
		t.Errorf("the panic is not logged with the client's address:\n%s", logs)
	}
	other.WriteText("fine")
	if s, err := other.ReadText(); err != nil || s != "fine" {
		t.Fatalf("the other client: %q %v", s, err)
	}
	e.stillServes(t)
}

// TestHostileBudgetWaitEnds: a connection waiting for budget room can
// still be closed by its target: the wait ends, the client gets the close
// frame, and nothing is left waiting.
func TestHostileBudgetWaitEnds(t *testing.T) {
	budget := wsrelay.NewBudget(64 << 10)
	e := newEnv(t, wsrelay.Options{InboundBudget: budget})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	a := e.dial(t, nil)
	tg.Next("ws.join")
	b := e.dial(t, nil)
	bPID := str(tg.Next("ws.join"), "client_pid")
	a.Conn.Write(header(true, 0, wsclient.OpBinary, 60000))
	poll.Until(t, timeout, "a's frame to take the budget", func() bool { return budget.InUse() == 60000 })
	b.Conn.Write(header(true, 0, wsclient.OpBinary, 60000))
	poll.Until(t, timeout, "b to wait for room", func() bool { return budget.Waiting() == 1 })
	tg.Send(bPID, "ws.close", value.MustOf(map[string]any{"code": 4000, "reason": "bye"}))
	wantClose(t, b, 4000, "bye")
	poll.Until(t, timeout, "b's wait to end", func() bool { return budget.Waiting() == 0 })
	if n := budget.InUse(); n != 60000 {
		t.Fatalf("budget in use %d, want a's 60000 only", n)
	}
	a.Close()
	poll.Until(t, timeout, "a's share to be given back", func() bool { return budget.InUse() == 0 })
}

// TestHostileCompressedProtocol: with compression negotiated, RSV1 is
// allowed only on the first frame of a data message; data that does not
// inflate closes with 1007.
func TestHostileCompressedProtocol(t *testing.T) {
	e := newEnv(t, wsrelay.Options{Compression: true})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	z := compress([]byte("hello hello hello"))
	for _, tc := range []struct {
		name string
		send []byte
		code int
	}{
		{"RSV1 on a ping", maskedFrame(4, wsclient.OpPing, nil), 1002},
		{"not deflate data", maskedFrame(4, wsclient.OpText, []byte{0xff, 0xff, 0xff, 0xff}), 1007},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := deflateDial(t, e)
			c.Conn.Write(tc.send)
			wantClose(t, c, tc.code, "")
		})
	}
	t.Run("RSV1 on a continuation", func(t *testing.T) {
		c := deflateDial(t, e)
		c.WriteFrame(false, 4, wsclient.OpText, z[:2], true)
		c.WriteFrame(true, 4, wsclient.OpContinuation, z[2:], true)
		wantClose(t, c, 1002, "continuation")
	})
	e.stillServes(t)
}

// TestHostileBadCloseFrame: a close frame the RFC forbids (a 1-byte
// payload, a code that may not be sent, a reason that is not UTF-8) gets
// 1002 or 1007 back, and its target a ws.leave that says so (reason
// error, that code), not client_closed with the bogus code; so does
// invalid UTF-8 in a text frame. Each is logged at info level with what
// was wrong.
func TestHostileBadCloseFrame(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	cf := func(code int, reason string) []byte {
		return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
	}
	for _, tc := range []struct {
		name    string
		op      byte
		payload []byte
		code    int
		log     string
	}{
		{"1-byte payload", wsclient.OpClose, []byte{3}, 1002, "close code 3"},
		{"code 1005", wsclient.OpClose, cf(1005, ""), 1002, "close code 1005"},
		{"code 2000", wsclient.OpClose, cf(2000, "x"), 1002, "close code 2000"},
		{"reason not UTF-8", wsclient.OpClose, append(cf(1000, "a"), 0xff), 1007, "close reason that is not UTF-8"},
		{"text not UTF-8", wsclient.OpText, []byte{'a', 0xff}, 1007, "invalid UTF-8 in a text frame"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dial(t, nil)
			c.WriteFrame(true, 0, tc.op, tc.payload, true)
			wantClose(t, c, tc.code, "")
			leave := nextLeave(tg)
			if str(leave, "reason") != "error" || field(leave, "code") != int64(tc.code) {
				t.Errorf("ws.leave %v, want reason error, code %d", leave.Payload, tc.code)
			}
			poll.Until(t, timeout, "the info log line", func() bool {
				for _, l := range strings.Split(e.logs.String(), "\n") {
					if strings.Contains(l, "level=INFO") && strings.Contains(l, "websocket client closed for what it sent") &&
						strings.Contains(l, tc.log) && strings.Contains(l, c.Conn.LocalAddr().String()) {
						return true
					}
				}
				return false
			})
		})
	}
	// A valid close is still the client's own: client_closed with its code.
	c := e.dial(t, nil)
	c.WriteClose(4000, "bye")
	wantClose(t, c, 4000, "")
	if leave := nextLeave(tg); str(leave, "reason") != "client_closed" || field(leave, "code") != int64(4000) {
		t.Errorf("ws.leave %v", leave.Payload)
	}
	// A close the target asked for is not the client's doing.
	quiet := newEnv(t, wsrelay.Options{})
	qt := quiet.target(false)
	quiet.relayTo(qt.PID, "")
	c = quiet.dial(t, nil)
	qt.Send(str(qt.Next("ws.join"), "client_pid"), "ws.close", value.MustOf(map[string]any{"code": 4002, "reason": "room full"}))
	wantClose(t, c, 4002, "room full")
	qt.Next("ws.leave")
	c.Close()
	poll.Until(t, timeout, "the reader to end", func() bool { return quiet.rl.Connections() == 0 })
	if strings.Contains(quiet.logs.String(), "closed for what it sent") {
		t.Errorf("a close the target asked for was logged as the client's doing:\n%s", quiet.logs.String())
	}
	e.stillServes(t)
}

// fragments is a fragmented message of n frames of size bytes each, op
// on the first, the last one final only when fin.
func fragments(op byte, n, size int, fin bool) []byte {
	var b []byte
	for i := range n {
		f := maskedFrame(0, op, bytes.Repeat([]byte{byte('a' + i%26)}, size))
		if i > 0 {
			f[0] = f[0]&^0x0f | wsclient.OpContinuation
		}
		if i < n-1 || !fin {
			f[0] &^= 0x80
		}
		b = append(b, f...)
	}
	return b
}

// TestHostileFragmentsShareTheBudget: a fragmented message takes the
// most it may grow to (MaxMessageSize) from the node's inbound budget with
// its first fragment, small fragments too (they pass straight to the
// library, which keeps them until the message is whole), and gives it
// back once whole: past the budget, another client's fragmented message
// waits unread, and goes on when room is given back. (Fragments were not
// counted: 200 connections each holding 1 MiB of 4 KiB fragments held
// 200 MiB against an 8 MiB budget.) Taken at once, shares never wait on
// each other: clients that all send fragmented messages at the same time,
// more than the budget holds, all get theirs through.
func TestHostileFragmentsShareTheBudget(t *testing.T) {
	const max = 32 << 10
	budget := wsrelay.NewBudget(2 * max)
	e := newEnv(t, wsrelay.Options{InboundBudget: budget, MaxMessageSize: max})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	a, b, c := e.dial(t, nil), e.dial(t, nil), e.dial(t, nil)
	a.Conn.Write(fragments(wsclient.OpBinary, 5, 4000, false))
	poll.Until(t, timeout, "a's message to take its share", func() bool { return budget.InUse() == max })
	b.Conn.Write(fragments(wsclient.OpBinary, 2, 10, false))
	poll.Until(t, timeout, "b's message to take its share", func() bool { return budget.InUse() == 2*max })
	c.Conn.Write(fragments(wsclient.OpBinary, 3, 4000, false))
	poll.Until(t, timeout, "c to wait for room", func() bool { return budget.Waiting() == 1 })
	if n := budget.InUse(); n != 2*max {
		t.Fatalf("budget in use %d while c waits, want %d", n, 2*max)
	}
	for _, x := range []*wsclient.Client{a, b, c} {
		x.WriteFrame(true, 0, wsclient.OpContinuation, []byte("end"), true)
	}
	for _, x := range []struct {
		c    *wsclient.Client
		size int
	}{{a, 20003}, {b, 23}, {c, 12003}} {
		if _, data, err := x.c.ReadMessage(); err != nil || len(data) != x.size {
			t.Fatalf("echo of %d bytes, want %d: %v", len(data), x.size, err)
		}
	}
	poll.Until(t, timeout, "the budget to be given back", func() bool { return budget.InUse() == 0 })

	// Six clients at once, each a message of 30,000 bytes in 4,000-byte
	// fragments: the budget holds two at a time, and all get through.
	var clients []*wsclient.Client
	for range 6 {
		clients = append(clients, e.dial(t, nil))
	}
	for _, x := range clients {
		x.Conn.Write(append(fragments(wsclient.OpBinary, 7, 4000, false), maskedFrame(0, wsclient.OpContinuation, make([]byte, 2000))...))
	}
	for i, x := range clients {
		if _, data, err := x.ReadMessage(); err != nil || len(data) != 30000 {
			t.Fatalf("client %d: echo of %d bytes, want 30000: %v", i, len(data), err)
		}
	}
	poll.Until(t, timeout, "the budget to be given back", func() bool { return budget.InUse() == 0 && budget.Waiting() == 0 })
	e.stillServes(t)
}

// TestDeflateNegotiation: with compression on, the server takes a
// permessage-deflate offer only as RFC 7692 lets it: an offer with an
// unknown, repeated or invalid parameter, one asking for a smaller server
// window (the server would not keep to it), and an extension that is not
// permessage-deflate at all are declined, and the connection goes on
// uncompressed; a later acceptable offer in the list is taken.
func TestDeflateNegotiation(t *testing.T) {
	e := newEnv(t, wsrelay.Options{Compression: true})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	for _, tc := range []struct {
		offer  string
		accept bool
	}{
		{"permessage-deflate", true},
		{"permessage-deflate; client_max_window_bits", true},
		{"permessage-deflate; client_max_window_bits=8", true},
		{`permessage-deflate; client_max_window_bits="10"; server_no_context_takeover`, true},
		{"permessage-deflate; server_max_window_bits=9", false},
		{"permessage-deflate; client_max_window_bits=7", false},
		{"permessage-deflate; client_max_window_bits=abc", false},
		{"permessage-deflate; unknown_param=1", false},
		{"permessage-deflate; server_no_context_takeover; server_no_context_takeover", false},
		{"permessage-deflate; client_no_context_takeover=1", false},
		{"x-permessage-deflate-nope", false},
		{"foo; permessage-deflate", false},
		{"permessage-deflate; server_max_window_bits=9, permessage-deflate; client_max_window_bits", true},
	} {
		c, resp, err := wsclient.Dial(e.url, http.Header{"Sec-Websocket-Extensions": {tc.offer}})
		if err != nil {
			t.Fatalf("%s: %v", tc.offer, err)
		}
		got := resp.Header.Get("Sec-WebSocket-Extensions")
		if tc.accept != (got != "") {
			t.Errorf("offer %q: answered %q, want accepted=%v", tc.offer, got, tc.accept)
		}
		if got != "" {
			c.WriteFrame(true, 4, wsclient.OpText, compress([]byte("squeeze squeeze")), true)
		} else {
			c.WriteText("squeeze squeeze")
		}
		if d, err := readInflated(c); err != nil || string(d) != "squeeze squeeze" {
			t.Errorf("offer %q: echo %q %v", tc.offer, d, err)
		}
		c.Close()
	}
}

// TestHostileInflatedShareTheBudget: an inflated message is memory the
// client did not send (1 KiB of deflate makes 1 MiB), so it takes its
// size from the inbound budget until the relay has handed it to the
// target: while the target is slow, compressed messages past the budget
// wait unread instead of piling up inflated (300 connections sending
// three 1 KiB bombs each to a stalled target grew the heap by 659 MiB).
// A message that inflates to at most 4 KiB is handed on like a small
// frame, without waiting for the budget.
func TestHostileInflatedShareTheBudget(t *testing.T) {
	const size, conns, limit = 64 << 10, 20, 2*(64<<10) + 8000
	budget := wsrelay.NewBudget(limit)
	// InflightMaxBytes 1: a client's reader holds back once its message
	// is in the stalled target's mailbox, and the inflated message keeps
	// its share of the budget until the reader reads again. (With the
	// default 1 MiB each client could have several messages in flight:
	// their bytes are then bounded per client, not by this budget.)
	e := newEnv(t, wsrelay.Options{Compression: true, MaxMessageSize: size, OutboundQueue: 8, InflightMaxBytes: 1, InboundBudget: budget})
	block := make(chan struct{})
	var unblock sync.Once
	defer unblock.Do(func() { close(block) })
	var got atomic.Int64
	tg := proctest.Spawn(t, e.node, host, func(p *process.Process, m process.Message) {
		if m.Topic == "ws.message" {
			<-block
			got.Add(1)
		}
	})
	e.relayTo(tg.PID, "")
	bomb := compress(make([]byte, size))
	for range conns {
		deflateDial(t, e).WriteFrame(true, 4, wsclient.OpBinary, bomb, true)
	}
	poll.Until(t, timeout, "inflated messages to fill the budget and others to wait", func() bool { return budget.Waiting() > 0 })
	if n := budget.InUse(); n > limit {
		t.Fatalf("budget in use %d, over its %d", n, limit)
	}
	// A message that inflates to a small frame's size is not held up
	// (a relay sharing the budget, with an echo target).
	other := newEnv(t, wsrelay.Options{Compression: true, InboundBudget: budget})
	echo := other.target(true)
	other.relayTo(echo.PID, "")
	small := deflateDial(t, other)
	small.WriteFrame(true, 4, wsclient.OpText, compress([]byte(strings.Repeat("small ", 500))), true)
	if got, err := readInflated(small); err != nil || string(got) != strings.Repeat("small ", 500) {
		t.Fatalf("a small compressed message while the budget is spent: %d bytes, %v", len(got), err)
	}
	unblock.Do(func() { close(block) })
	poll.Until(t, timeout, "every message to reach the target", func() bool { return got.Load() == conns })
	poll.Until(t, timeout, "the budget to be given back", func() bool { return budget.InUse() == 0 })
}

// TestHostileFragmentsHeap: 200 connections each send 256 KiB of a
// fragmented message in 4 KiB fragments and never its end: the heap grows
// by about the budget (2 MiB here), not by the 50 MiB sent (with 1 MiB
// each and an 8 MiB budget: 9 MiB, and 204 MiB before fragmented messages
// were counted). The budget is given back when they go.
func TestHostileFragmentsHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 200 connections")
	}
	const conns = 200
	budget := wsrelay.NewBudget(2 << 20)
	e := newEnv(t, wsrelay.Options{InboundBudget: budget, MaxMessageSize: 256 << 10})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	clients := make([]*wsclient.Client, conns)
	for i := range clients {
		clients[i] = e.dial(t, nil)
	}
	msg := fragments(wsclient.OpBinary, 63, 4096, false)
	base := heapAlloc()
	var writers sync.WaitGroup
	for _, c := range clients {
		writers.Add(1)
		go func() {
			defer writers.Done()
			c.Conn.SetWriteDeadline(time.Now().Add(timeout))
			c.Conn.Write(msg) // blocks once the server stops reading this client
		}()
	}
	poll.Until(t, timeout, "the budget to be spent and clients to wait", func() bool {
		return budget.InUse() == 2<<20 && budget.Waiting() > 0
	})
	grew := int64(heapAlloc()) - int64(base)
	t.Logf("%d connections sending 256 KiB of fragments each: heap grew by %.1f MiB (budget 2 MiB)", conns, float64(grew)/(1<<20))
	if grew > 16<<20 {
		t.Errorf("heap grew by %d MiB", grew>>20)
	}
	for _, c := range clients {
		c.Close()
	}
	writers.Wait()
	poll.Until(t, 3*timeout, "the budget to be given back", func() bool { return budget.InUse() == 0 })
	e.stillServes(t)
}
