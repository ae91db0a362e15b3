package wsrelay_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// stalledTarget spawns on n's host h a target that takes nothing from its
// mailbox until gate is closed, then forwards its ws.message payloads to
// got, in order. It ends normally when quit is closed (nil: never), or
// at any event (the node's shutdown).
func stalledTarget(t *testing.T, n *process.Node, h string, gate, quit <-chan struct{}, got chan<- value.Value) pid.PID {
	t.Helper()
	id, err := n.Spawn(h, func(p *process.Process) (value.Value, error) {
		select {
		case <-gate:
		case <-quit:
			return value.Nil(), nil
		case <-p.EventsReady(): // the node's shutdown
			return value.Nil(), nil
		}
		for {
			select {
			case <-p.InboxReady():
				for {
					m, ok, closed := p.TryReceive()
					if closed {
						return value.Nil(), nil
					}
					if !ok {
						break
					}
					if m.Topic == "ws.message" {
						got <- m.Payload
					}
				}
			case <-quit:
				return value.Nil(), nil
			case <-p.EventsReady():
				return value.Nil(), nil
			}
		}
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// dataText is the text of a ws.message payload's data.
func dataText(payload value.Value) string {
	d, _ := payload.Get("data")
	s, _ := d.Text()
	return s
}

// writeFrames writes n frames body(i) from c on a goroutine; the channel
// receives the first error (or nil) once it is done.
func writeFrames(c *wsclient.Client, n int, body func(int) string) <-chan error {
	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := c.WriteText(body(i)); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	return done
}

// TestStalledTargetGetsEveryFrame: a target that stalls while several
// clients send to it, then resumes, gets every frame of each client, in
// order; none is dropped on its node, though its mailbox holds far fewer
// messages than were sent: the clients were held back meanwhile, each by
// its frames in flight (InflightMaxBytes). For a target on another node,
// that node answers for the frames its target takes (docs/cluster.md);
// before, it took them all and dropped those past the mailbox's bound.
func TestStalledTargetGetsEveryFrame(t *testing.T) { eachTopology(t, testStalledTargetGetsEveryFrame) }

func testStalledTargetGetsEveryFrame(t *testing.T, topo topology) {
	const (
		clients  = 3
		frames   = 60
		inflight = 64 << 10
		mailbox  = 8
	)
	m := &pauses{}
	e := newEnvIn(t, wsrelay.Options{InflightMaxBytes: inflight, Metrics: m}, topo)
	small, err := e.targets.AddHost("small", &process.HostOptions{MailboxSize: mailbox, CancelGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	gate, quit, got := make(chan struct{}), make(chan struct{}), make(chan value.Value, clients*frames)
	defer close(quit)
	target := stalledTarget(t, e.targets, "small", gate, quit, got)
	e.relayTo(target, "")

	body := func(k, i int) string {
		return strconv.Itoa(k) + ":" + strconv.Itoa(i) + ":" + strings.Repeat("x", 4<<10)
	}
	cs := make([]*wsclient.Client, clients)
	for k := range cs {
		cs[k] = e.dial(t, nil) // every join is in before a frame
	}
	wrote := make([]<-chan error, clients)
	for k, c := range cs {
		wrote[k] = writeFrames(c, frames, func(i int) string { return body(k, i) })
	}
	// Each client is held once its frames in flight reach inflight: 16
	// frames of a little over 4 KiB. A local target's mailbox is full
	// first (mailbox messages).
	held := clients + clients*(inflight/(4<<10))
	if !topo.remote {
		held = mailbox
	}
	poll.Until(t, timeout, "the clients to be held back by the stalled target", func() bool {
		return m.mailbox.Load() >= 1 && e.targets.MailboxLen(target) >= held
	})
	if n := e.targets.MailboxLen(target); n > held+clients {
		t.Fatalf("%d messages in the stalled target's mailbox, want at most %d: the clients were not held back", n, held+clients)
	}

	close(gate)
	next := make([]int, clients)
	for range clients * frames {
		var p value.Value
		select {
		case p = <-got:
		case <-time.After(timeout):
			t.Fatalf("frames received per client: %v of %d (logs: %s)", next, frames, e.logs)
		}
		s := dataText(p)
		parts := strings.SplitN(s, ":", 3)
		k, _ := strconv.Atoi(parts[0])
		i, _ := strconv.Atoi(parts[1])
		if k < 0 || k >= clients || i != next[k] {
			t.Fatalf("got frame %d of client %d, want its frame %d", i, k, next[k])
		}
		next[k]++
	}
	for k, w := range wrote {
		if err := <-w; err != nil {
			t.Fatalf("client %d: writing: %v", k, err)
		}
	}
	if d := small.Stats().Dropped; d != 0 {
		t.Fatalf("%d messages dropped on the target's node", d)
	}
}

// TestHeldClientIsClosedWhenItsTargetGoes: a client held back by frames
// its target has not taken is not stuck when the target ends, or (on
// another node) when the target's node is lost: it gets its close as any
// client does.
func TestHeldClientIsClosedWhenItsTargetGoes(t *testing.T) {
	eachTopology(t, func(t *testing.T, topo topology) {
		ways := []string{"target ends"}
		if topo.remote {
			ways = append(ways, "node lost")
		}
		for _, way := range ways {
			t.Run(way, func(t *testing.T) { testHeldClientIsClosed(t, topo, way) })
		}
	})
}

func testHeldClientIsClosed(t *testing.T, topo topology, way string) {
	m := &pauses{}
	e := newEnvIn(t, wsrelay.Options{InflightMaxBytes: 16 << 10, Metrics: m}, topo)
	gate, quit, got := make(chan struct{}), make(chan struct{}), make(chan value.Value, 1)
	target := stalledTarget(t, e.targets, host, gate, quit, got)
	e.relayTo(target, "")
	c := e.dial(t, nil)
	wrote := writeFrames(c, 16, func(i int) string { return strings.Repeat("x", 4<<10) })
	// Held back, with the join and the frames in the target's mailbox (so
	// the relay's watch, sent before them, is in place).
	poll.Until(t, timeout, "the client to be held back", func() bool {
		return m.mailbox.Load() >= 1 && e.targets.MailboxLen(target) >= 1+4
	})
	switch way {
	case "target ends":
		close(quit)
		code, reason, err := c.ReadClose()
		if err != nil || code != 1000 || reason != "target exited" {
			t.Fatalf("close %d %q (%v), want 1000 \"target exited\"; logs: %s", code, reason, err, e.logs)
		}
	case "node lost":
		defer close(quit)
		e.cut()
		wantClose(t, c, 1011, "target node lost")
	}
	c.Close()
	<-wrote
}
