package wsrelay_test

import (
	"bytes"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxzan/gws"

	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// Tests of the byte budgets of a connection (docs/relay.md,
// "Backpressure"): what a client that does not read can make the server
// hold.

const MiB = 1 << 20

// leanEcho is an echo target that keeps nothing of what it relays (a
// proctest probe keeps the messages it receives, which would count in the
// heap the tests measure). It reports joins and leaves.
type leanEcho struct {
	pid    pid.PID
	joins  chan string          // client PIDs
	leaves chan process.Message // ws.leave messages
	frames atomic.Int64
}

func newLeanEcho(t *testing.T, e *env) *leanEcho {
	t.Helper()
	le := &leanEcho{joins: make(chan string, 1024), leaves: make(chan process.Message, 1024)}
	id, err := e.node.Spawn(host, func(p *process.Process) (value.Value, error) {
		for {
			m, ok := p.Receive(p.Context())
			if !ok {
				return value.Nil(), nil
			}
			switch m.Topic {
			case "ws.join":
				le.joins <- str(m, "client_pid")
			case "ws.leave":
				le.leaves <- m
			case "ws.message":
				le.frames.Add(1)
				client, _ := m.Payload.Get("client_pid")
				typ, _ := m.Payload.Get("type")
				data, _ := m.Payload.Get("data")
				c, _ := client.Text()
				_ = p.SendDest(c, "ws.send", value.Map(value.Field{Key: "type", Value: typ}, value.Field{Key: "data", Value: data}))
			}
		}
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	le.pid = id
	return le
}

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(timeout):
		t.Fatalf("no %s within %v", what, timeout)
		panic("unreachable")
	}
}

// heapAlloc is the live heap after a collection.
func heapAlloc() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// heapPeak samples the live heap until stop is closed and returns the
// highest sample.
func heapPeak(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		peak := heapAlloc()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				out <- max(peak, heapAlloc())
				return
			case <-tick.C:
				peak = max(peak, heapAlloc())
			}
		}
	}()
	return out
}

// TestFloodingEchoClientsHeldInBytes: clients that send large frames to
// an echoing target and never read make the server hold a bounded number
// of bytes each, derived from the budgets (before: a count of frames of
// any size, and a private copy of each echo); they are closed as slow
// consumers; a client that reads meanwhile still gets its echoes; and the
// memory comes back when they are gone.
func TestFloodingEchoClientsHeldInBytes(t *testing.T) {
	const (
		frameSize = 128 << 10
		budget    = 256 << 10
		attackers = 20
	)
	m := &pauses{}
	e := newEnv(t, wsrelay.Options{
		MaxMessageSize:     frameSize,
		OutboundPauseBytes: budget,
		InflightMaxBytes:   budget,
		OutboundMaxBytes:   2*budget + 3*frameSize,
		WriteTimeout:       time.Second,
		Metrics:            m,
	})
	tg := newLeanEcho(t, e)
	e.relayTo(tg.pid, "")
	good := e.dial(t, nil)
	goodClient := recv(t, tg.joins, "ws.join")
	base := heapAlloc()

	payload := bytes.Repeat([]byte("x"), frameSize)
	flooders := map[string]bool{}
	var wg sync.WaitGroup
	for range attackers {
		c := e.dial(t, nil)
		flooders[recv(t, tg.joins, "ws.join")] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.WriteFrame(true, 0, wsclient.OpBinary, payload, true) == nil {
			}
		}()
	}
	stop := make(chan struct{})
	peak := heapPeak(stop)
	poll.Until(t, timeout, "every flooding client to be held back", func() bool {
		return m.outbound.Load()+m.mailbox.Load() >= attackers
	})
	// A client that reads is not held up by the others.
	for i := range 20 {
		msg := "hello " + itoa(i)
		if err := good.WriteText(msg); err != nil {
			t.Fatal(err)
		}
		if s, err := good.ReadText(); s != msg {
			t.Fatalf("the reading client: echo %d: %q %v", i, s, err)
		}
	}
	for range attackers {
		l := recv(t, tg.leaves, "ws.leave of a flooding client")
		if c := str(l, "client_pid"); !flooders[c] || str(l, "reason") != wsrelay.ReasonSlowConsumer {
			t.Errorf("ws.leave %v (flooder %v, the reading client is %s)", l.Payload, flooders[c], goodClient)
		}
	}
	wg.Wait()
	close(stop)
	// Per client: what it has in flight to the target and what waits to
	// be written to it (their budgets plus three frames, as
	// OutboundMaxBytes allows), the buffers of the write in progress, the
	// frame being read and its copy as a value, and the test client's own
	// masked copy of the frame it writes; and room for the test binary and
	// for what a closing client frees a moment later (over 30 runs the
	// peak ranged from 23 to 49 MiB).
	bound := base + attackers*(2*budget+7*frameSize) + 24*MiB
	if p := <-peak; p > bound {
		t.Errorf("heap peaked at %.1f MiB with %d flooding clients; the budgets allow %.1f MiB (baseline %.1f MiB)", mib(p), attackers, mib(bound), mib(base))
	} else {
		t.Logf("heap: baseline %.1f MiB, peak %.1f MiB, bound %.1f MiB", mib(base), mib(p), mib(bound))
	}
	poll.Until(t, timeout, "the flooding clients' memory to come back", func() bool { return heapAlloc() < base+8*MiB })
	if q := e.rl.OutboundBytes(); q != 0 {
		t.Errorf("OutboundBytes %d with the flooding clients gone", q)
	}
	if err := good.WriteText("still here"); err != nil {
		t.Fatal(err)
	}
	if s, err := good.ReadText(); s != "still here" {
		t.Fatalf("after the flood: %q %v", s, err)
	}
}

func mib(n uint64) float64 { return float64(n) / MiB }

// TestBroadcastHeldOnce: a large payload sent to many clients that do not
// read waits in each one's outbound queue as one shared copy; a client
// whose queue passes its byte budget is closed as a slow consumer.
func TestBroadcastHeldOnce(t *testing.T) {
	const (
		size    = 256 << 10
		clients = 11
		first   = 48 // payloads queued before the heap is measured: 12 MiB each
	)
	e := newEnv(t, wsrelay.Options{OutboundMaxBytes: 20 * MiB, WriteTimeout: time.Minute})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	var pids []pid.PID
	for range clients {
		e.dial(t, nil) // never read
		pids = append(pids, mustPID(str(tg.Next("ws.join"), "client_pid")))
	}
	base := heapAlloc()
	broadcast := func(i int) {
		// A new payload each time: what stays alive is what the queues hold.
		data := value.BytesString(strings.Repeat(string(rune('a'+i%26)), size))
		for _, p := range pids {
			if err := e.node.Send(tg.PID, p, "ws.send", data); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range first {
		broadcast(i)
	}
	poll.Until(t, timeout, "the broadcasts to reach the outbound queues", func() bool {
		for _, p := range pids {
			if e.node.MailboxLen(p) > 0 {
				return false
			}
		}
		return true
	})
	if q := e.rl.OutboundBytes(); q < clients*size {
		t.Errorf("OutboundBytes %d while every client has frames waiting", q)
	}
	// Each queue holds what the socket did not take, up to 12 MiB: copied
	// per client that would be over 11 × 6 MiB. The slack covers what the
	// rest of the test binary allocates meanwhile (parallel tests, -race).
	held := heapAlloc() - base
	if limit := uint64(first*size + clients*2*size + 24*MiB); held > limit {
		t.Errorf("the broadcast holds %.1f MiB; one copy of each payload is %.1f MiB (limit %.1f MiB)", mib(held), mib(first*size), mib(limit))
	} else {
		t.Logf("the broadcast holds %.1f MiB for %d clients (one copy of each payload: %.1f MiB)", mib(held), clients, mib(first*size))
	}
	for i := first; i < first+80; i++ { // past 20 MiB a client
		broadcast(i)
	}
	for range clients {
		if m := tg.Next("ws.leave"); str(m, "reason") != wsrelay.ReasonSlowConsumer {
			t.Errorf("ws.leave %v", m.Payload)
		}
	}
	poll.Until(t, timeout, "the queues' memory to come back", func() bool { return heapAlloc() < base+8*MiB })
	if q := e.rl.OutboundBytes(); q != 0 {
		t.Errorf("OutboundBytes %d with every client gone", q)
	}
}

// TestPipeliningClientSlowedByBytes: with byte budgets far below what
// the frame count allows, a client that pipelines large frames and reads
// its echoes only later is held back by bytes and loses nothing: the
// smallest valid OutboundMaxBytes never cuts it off.
func TestPipeliningClientSlowedByBytes(t *testing.T) {
	const size = 16 << 10
	m := &pauses{}
	e := newEnv(t, wsrelay.Options{
		MaxMessageSize:     size + 16,
		OutboundPauseBytes: 64 << 10,
		InflightMaxBytes:   64 << 10,
		OutboundMaxBytes:   128<<10 + 3*(size+16),
		Metrics:            m,
	})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	const n = 1000
	body := func(i int) string { return itoa(i) + ":" + strings.Repeat("x", size-8) }
	pipeline(t, e, c, m, n, body)
}

// TestPausedReaderReleased: a reader paused because its target does not
// take its frames returns when the connection is closed, transferred or
// the relay shuts down; no goroutine is left behind.
func TestPausedReaderReleased(t *testing.T) {
	for _, how := range []string{"close", "transfer", "shutdown"} {
		t.Run(how, func(t *testing.T) {
			m := &pauses{}
			e := newEnv(t, wsrelay.Options{InflightMaxBytes: 1024, Metrics: m})
			stuck := e.target(false)
			stuck.Run(func(p *process.Process) {}) // started: its goroutines are in the baseline
			next := newLeanEcho(t, e)
			e.relayTo(stuck.PID, "")
			base := leakcheck.Snapshot()
			c := e.dial(t, nil)
			client := mustPID(str(stuck.Next("ws.join"), "client_pid"))
			// The stuck target takes nothing while it runs this.
			release, started := make(chan struct{}), make(chan struct{})
			go stuck.Run(func(*process.Process) { close(started); <-release })
			<-started
			for i := range 4 { // 2 KiB in flight: the reader pauses at the third
				if err := c.WriteText(itoa(i) + strings.Repeat("x", 1000)); err != nil {
					t.Fatal(err)
				}
			}
			poll.Until(t, timeout, "the reader to pause", func() bool { return m.mailbox.Load() > 0 })
			switch how {
			case "close":
				_ = e.node.Send(pid.PID{}, client, "ws.close", value.Nil())
				if code, _, err := c.ReadClose(); code != 1000 {
					t.Fatalf("close %d %v", code, err)
				}
			case "transfer":
				_ = e.node.Send(pid.PID{}, client, "ws.control", value.MustOf(map[string]any{"target_pid": next.pid.String()}))
				// The paused frame and the next one go to the new target.
				if err := c.WriteText("after"); err != nil {
					t.Fatal(err)
				}
				want := []string{"2", "3", "after"}
				for _, w := range want {
					s, err := c.ReadText()
					if err != nil || !strings.HasPrefix(s, w) {
						t.Fatalf("from the new target: %.8q %v, want %q…", s, err, w)
					}
				}
				c.WriteClose(1000, "")
				c.ReadClose()
			case "shutdown":
				e.rl.Shutdown(t.Context())
				if code, _, err := c.ReadClose(); code != 1001 {
					t.Fatalf("close %d %v", code, err)
				}
			}
			c.Close()
			close(release)
			poll.Until(t, timeout, "the connection to end", func() bool { return e.rl.Connections() == 0 })
			if err := leakcheck.Check(base, timeout); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// gwsCollector is a gws client's event handler that hands over messages.
type gwsCollector struct {
	gws.BuiltinEventHandler
	msgs chan []byte
}

func (g *gwsCollector) OnMessage(_ *gws.Conn, m *gws.Message) {
	g.msgs <- append([]byte(nil), m.Bytes()...)
	m.Close()
}

// TestLargeMessagesWrittenInSegments: a message larger than a segment
// goes out as fragments from the shared payload (so a write never holds a
// copy of it), and arrives whole, text split inside multi-byte characters
// included, with and without compression.
func TestLargeMessagesWrittenInSegments(t *testing.T) {
	text := strings.Repeat("héllo wörld ✓ ", 40000) // ~0.7 MiB, runes across every segment boundary
	bin := bytes.Repeat([]byte{0, 1, 2, 250, 251}, 200000)
	for _, compress := range []bool{false, true} {
		e := newEnv(t, wsrelay.Options{Compression: compress, OutboundMaxBytes: 8 * MiB})
		tg := e.target(false)
		e.relayTo(tg.PID, "")
		col := &gwsCollector{msgs: make(chan []byte, 4)}
		c, _, err := gws.NewClient(col, &gws.ClientOption{
			Addr:               e.url,
			ReadMaxPayloadSize: 4 * MiB,
			PermessageDeflate:  gws.PermessageDeflate{Enabled: compress},
		})
		if err != nil {
			t.Fatal(err)
		}
		go c.ReadLoop()
		client := str(tg.Next("ws.join"), "client_pid")
		tg.Send(client, "ws.send", value.String(text))
		tg.Send(client, "ws.send", value.Bytes(bin))
		if got := recv(t, col.msgs, "the text message"); string(got) != text {
			t.Errorf("compression %v: text of %d bytes came as %d bytes", compress, len(text), len(got))
		}
		if got := recv(t, col.msgs, "the binary message"); !bytes.Equal(got, bin) {
			t.Errorf("compression %v: binary of %d bytes came as %d bytes", compress, len(bin), len(got))
		}
		c.WriteClose(1000, nil)
		tg.Next("ws.leave")
	}
	// On the wire: fragments of at most a segment.
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	tg.Send(str(tg.Next("ws.join"), "client_pid"), "ws.send", value.String(text))
	var got []byte
	for n := 0; ; n++ {
		f, err := c.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		want := byte(wsclient.OpContinuation)
		if n == 0 {
			want = wsclient.OpText
		}
		if f.Op != want || len(f.Payload) > 128<<10 {
			t.Fatalf("frame %d: opcode %d, %d bytes", n, f.Op, len(f.Payload))
		}
		got = append(got, f.Payload...)
		if f.Fin {
			if n == 0 || string(got) != text {
				t.Fatalf("%d frame(s), %d bytes", n+1, len(got))
			}
			break
		}
	}
}
