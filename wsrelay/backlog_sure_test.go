package wsrelay_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/internal/relaytest"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// gateLink is a transport to one other node whose queue refuses ws.join,
// ws.leave and notices with process.ErrBacklog while shut, and says when
// it has room, like the cluster transport under load. It records what it
// accepts, in order.
type gateLink struct {
	mu      sync.Mutex
	shut    bool
	room    chan struct{}
	refused int
	got     []string
}

// errGone is what gateLink answers for node "gone".
var errGone = errors.New("node is down")

func (g *gateLink) Deliver(s transport.Signal) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if s.To.Node == "gone" {
		return errGone
	}
	var what string
	switch {
	case s.Kind == transport.SigMessage && (s.Topic == wsrelay.TopicJoin || s.Topic == wsrelay.TopicLeave):
		what = s.Topic
	case s.Kind == transport.SigMonitor && s.Topic != "":
		what = "notice:" + s.Topic
	case s.Kind == transport.SigMonitor:
		what = "monitor"
	default:
		return nil
	}
	if g.shut {
		g.refused++
		return process.ErrBacklog
	}
	g.got = append(g.got, what)
	return nil
}

func (g *gateLink) Room(string) <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.room
}

func (g *gateLink) close() {
	g.mu.Lock()
	g.shut, g.room, g.refused = true, make(chan struct{}), 0
	g.mu.Unlock()
}

func (g *gateLink) open() {
	g.mu.Lock()
	g.shut = false
	close(g.room)
	g.mu.Unlock()
}

func (g *gateLink) state() (refused int, got string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refused, strings.Join(g.got, " ")
}

// TestJoinAndLeaveWaitForRoom: ws.join, the node_down notice (the
// monitor of the target) and ws.leave refused for a full queue toward the
// target's node are not lost, nor is the connection closed: the relay
// waits for room and sends them, in order, once each.
func TestJoinAndLeaveWaitForRoom(t *testing.T) {
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	link := &gateLink{room: make(chan struct{})}
	_, e := overLink(t, log, link, nil, pid.PID{Node: "n2", Host: host, ID: 7})

	link.close()
	c := e.dial(t, nil)
	poll.Until(t, timeout, "the join to be refused for the full queue", func() bool {
		refused, _ := link.state()
		return refused > 0
	})
	link.open()
	poll.Until(t, timeout, "the join and the notice to go once there is room", func() bool {
		_, got := link.state()
		return got == "notice:ws.leave ws.join"
	})

	link.close()
	_ = c.Close()
	poll.Until(t, timeout, "the leave to be refused for the full queue", func() bool {
		refused, _ := link.state()
		return refused > 0
	})
	link.open()
	poll.Until(t, timeout, "the leave to go once there is room", func() bool {
		_, got := link.state()
		return got == "notice:ws.leave ws.join ws.leave"
	})
	if strings.Contains(logs.String(), "cannot send to the relay target") {
		t.Errorf("a join or leave was dropped: %s", logs)
	}
}

// TestShutdownBoundsTheWaitForRoom: a leave waiting for room toward the
// target's node is given up, and logged, when the relay's Shutdown runs
// out of time: the shutdown does not hang on a full queue.
func TestShutdownBoundsTheWaitForRoom(t *testing.T) {
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	link := &gateLink{room: make(chan struct{})}
	rl, e := overLink(t, log, link, nil, pid.PID{Node: "n2", Host: host, ID: 7})
	c := e.dial(t, nil)
	defer c.Close()
	poll.Until(t, timeout, "the join", func() bool {
		_, got := link.state()
		return got == "notice:ws.leave ws.join"
	})
	link.close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // out of time at once
	rl.Shutdown(ctx)
	if refused, _ := link.state(); refused == 0 {
		t.Fatal("the leave was not tried")
	}
	poll.Until(t, timeout, "the lost leave to be logged", func() bool {
		return strings.Contains(logs.String(), "cannot send to the relay target") && strings.Contains(logs.String(), "topic=ws.leave")
	})
}

// TestTargetOnADownNodeClosesTheClient: a target on a node that is down
// cannot be monitored: the client is closed 1011 at once, not left
// waiting on a target nobody watches.
func TestTargetOnADownNodeClosesTheClient(t *testing.T) {
	log := slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil))
	_, e := overLink(t, log, &gateLink{room: make(chan struct{})}, nil, pid.PID{Node: "gone", Host: host, ID: 7})
	c := e.dial(t, nil)
	defer c.Close()
	wantClose(t, c, 1011, "")
}

// TestShutdownEndsConnectionsSideBySide: while one connection's ws.leave
// waits for room toward its target's node, Shutdown still closes the
// other connections with 1001 at once, not after that wait.
func TestShutdownEndsConnectionsSideBySide(t *testing.T) {
	log := slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil))
	link := &gateLink{room: make(chan struct{})}
	node, err := process.NewNode(&process.Options{Name: "n1", Logger: log, Transport: link})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.AddHost(host, &process.HostOptions{CancelGrace: time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		node.Shutdown(ctx)
	})
	rl, err := wsrelay.New(wsrelay.Options{Node: node, Logger: log, Route: "test:ws"})
	if err != nil {
		t.Fatal(err)
	}
	local := proctest.Spawn(t, node, host, nil)
	var target atomic.Value
	target.Store(pid.PID{Node: "n2", Host: host, ID: 7}) // the first client's target is on another node
	_, url := relaytest.Serve(t, rl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		relaytest.To(target.Load().(pid.PID)).ServeHTTP(w, r)
	}))
	remote, _, err := wsclient.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer remote.Close()
	poll.Until(t, timeout, "the remote join", func() bool {
		_, got := link.state()
		return got == "notice:ws.leave ws.join"
	})
	target.Store(local.PID)
	var clients []*wsclient.Client
	for range 8 { // ended in the map's order: most come after the remote one
		c, _, err := wsclient.Dial(url, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	link.close() // the remote leave will wait for room
	ctx, cancel := context.WithCancel(context.Background())
	shut := make(chan struct{})
	go func() {
		rl.Shutdown(ctx)
		close(shut)
	}()
	for i, c := range clients {
		if code, _, err := c.ReadClose(); code != 1001 {
			t.Errorf("client %d: close %d %v while another connection's leave waits, want 1001", i, code, err)
		}
	}
	cancel() // the remote leave is given up
	<-shut
}
