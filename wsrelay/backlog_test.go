package wsrelay_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/relaytest"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// fullLink is a transport to one other node whose queue is full until
// opened: it refuses client frames with process.ErrBacklog and says when
// it has room, like the cluster transport under load.
type fullLink struct {
	mu      sync.Mutex
	open    bool
	room    chan struct{}
	refused int
	frames  []string // data of the frames it accepted, in order
}

func (f *fullLink) Deliver(s transport.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.Kind != transport.SigMessage || s.Topic != "ws.message" {
		return nil
	}
	if !f.open {
		f.refused++
		return process.ErrBacklog
	}
	d, _ := s.Payload.Get("data")
	txt, _ := d.Text()
	f.frames = append(f.frames, txt)
	return nil
}

func (f *fullLink) Room(string) <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.room
}

func (f *fullLink) openUp() {
	f.mu.Lock()
	f.open = true
	close(f.room)
	f.mu.Unlock()
}

func (f *fullLink) state() (refused int, frames []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused, append([]string(nil), f.frames...)
}

// TestBacklogTowardTargetNodeHoldsClientBack: while the queue toward the
// target's node is full, the relay stops reading the client instead of
// dropping its frames; once there is room every frame goes, in order.
func TestBacklogTowardTargetNodeHoldsClientBack(t *testing.T) {
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	link := &fullLink{room: make(chan struct{})}
	m := &pauses{}
	target := pid.PID{Node: "n2", Host: host, ID: 7}
	_, e := overLink(t, log, link, m, target)
	c := e.dial(t, nil)
	const n = 200
	for i := range n {
		if err := c.WriteText(itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, timeout, "the relay to hold the client back for the full queue", func() bool {
		return m.mailbox.Load() > 0
	})
	if refused, frames := link.state(); refused == 0 || len(frames) != 0 {
		t.Fatalf("while full: %d refused, %d accepted; want refusals and nothing accepted", refused, len(frames))
	}
	link.openUp()
	poll.Until(t, timeout, "every frame to go once there is room", func() bool {
		_, frames := link.state()
		return len(frames) == n
	})
	_, frames := link.state()
	for i, f := range frames {
		if f != itoa(i) {
			t.Fatalf("frame %d is %q: frames were lost or reordered", i, f)
		}
	}
	if strings.Contains(logs.String(), "cannot send to the relay target") {
		t.Errorf("a frame was dropped: %s", logs)
	}
}

// overLink serves a relay on node n1, whose transport is link, that sends
// every connection to target (on another node); it returns the relay and
// a client env. The node shuts down after the relay (cleanups run last
// first).
func overLink(t *testing.T, log *slog.Logger, link transport.Transport, m wsrelay.Metrics, target pid.PID) (*wsrelay.Relay, *env) {
	t.Helper()
	node, err := process.NewNode(&process.Options{Name: "n1", Logger: log, Transport: link})
	if err != nil {
		t.Fatal(err)
	}
	rl, err := wsrelay.New(wsrelay.Options{Node: node, Logger: log, Route: "test:ws", Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := node.Shutdown(ctx); err != nil {
			t.Errorf("node shutdown: %v", err)
		}
	})
	_, url := relaytest.Serve(t, rl, relaytest.To(target))
	return rl, &env{t: t, url: url}
}
