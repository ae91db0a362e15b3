package wsrelay_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/internal/relaytest"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// closedAndGone checks that c gets the close code with reason, that the
// server then closes the socket, and that the relay holds no connection:
// the client is not left open, attached to nothing.
func closedAndGone(t *testing.T, rl *wsrelay.Relay, c *wsclient.Client, code int, reason string) {
	t.Helper()
	got, text, err := c.ReadClose()
	if err != nil {
		t.Fatalf("want close %d %q, got no close frame: %v", code, reason, err)
	}
	if got != code || text != reason {
		t.Fatalf("close %d %q, want %d %q", got, text, code, reason)
	}
	_ = c.WriteClose(got, "")
	for {
		if _, err := c.ReadFrame(); err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("the server did not close the socket after its close frame: %v", err)
			}
			break
		}
	}
	poll.Until(t, timeout, "the relay to hold no connection", func() bool { return rl.Connections() == 0 })
}

// transferTo makes the handler relay each connection to a greeter on the
// relay's node that moves it to target at once, as the chat example's
// rooms service does.
func (e *env) transferTo(target pid.PID) {
	e.t.Helper()
	g := proctest.Spawn(e.t, e.node, host, func(p *process.Process, m process.Message) {
		if m.Topic == "ws.join" {
			_ = p.SendDest(str(m, "client_pid"), "ws.control", value.MustOf(map[string]any{"target_pid": target.String()}))
		}
	})
	e.relayTo(g.PID, "")
}

// TestStaleTargetClosesTheClient: a client whose target is gone (it
// failed, or its node was lost) is closed with the code of that loss, and
// so is a client that connects again to a handler that still names the
// old target, directly or through a transfer: never left open with
// nothing behind it.
func TestStaleTargetClosesTheClient(t *testing.T) {
	eachTopology(t, func(t *testing.T, topo topology) {
		e := newEnvIn(t, wsrelay.Options{}, topo)
		tg := e.target(false)
		e.relayTo(tg.PID, "")
		c := e.dial(t, nil)
		tg.Next("ws.join")
		lost := "target failed"
		if topo.remote {
			lost = "target node lost"
			e.cut()
		} else {
			tg.Exit(errors.New("room crashed"))
		}
		closedAndGone(t, e.rl, c, 1011, lost)

		t.Run("open", func(t *testing.T) {
			e.relayTo(tg.PID, "")
			if !topo.remote {
				// A local target is checked before the upgrade.
				_, resp, err := wsclient.Dial(e.url, nil)
				if err == nil || resp == nil || resp.Status != http.StatusBadGateway {
					t.Fatalf("dial to a dead local target: %v, %+v; want 502", err, resp)
				}
				return
			}
			closedAndGone(t, e.rl, e.dial(t, nil), 1011, lost)
		})
		t.Run("transfer", func(t *testing.T) {
			e.transferTo(tg.PID)
			c := e.dial(t, nil)
			// A frame sent meanwhile is never dropped with the client
			// left open: the client is closed.
			_ = c.WriteText(`{"type":"say","text":"anyone?"}`)
			closedAndGone(t, e.rl, c, 1011, lost)
		})
	})
}

// TestOpenToAnUnknownNode: a handler naming a process of a node the
// cluster has never seen (or, on a node alone, of any other node) gets its
// client closed 1011 "target node lost" at once.
func TestOpenToAnUnknownNode(t *testing.T) {
	eachTopology(t, func(t *testing.T, topo topology) {
		e := newEnvIn(t, wsrelay.Options{}, topo)
		e.relayTo(pid.PID{Node: "nowhere", Host: host, ID: 1}, "")
		closedAndGone(t, e.rl, e.dial(t, nil), 1011, "target node lost")
	})
}

// TestOpenToADeadRemoteTarget: a handler naming a process that has ended
// on another, live node (say, a PID of an earlier incarnation) gets its
// client closed 1011 "target failed" as soon as that node answers.
func TestOpenToADeadRemoteTarget(t *testing.T) {
	e := newEnvIn(t, wsrelay.Options{}, topology{name: "remote", remote: true})
	dead := pid.PID{Node: e.targets.Name(), Host: host, ID: 1}
	e.relayTo(dead, "")
	closedAndGone(t, e.rl, e.dial(t, nil), 1011, "target failed")
}

// TestFramesWhileTheTargetGoes: a client that keeps sending while its
// target goes gets its close; its frames that reached the target did so
// in order, and none was dropped while the client stayed open (it is
// closed).
func TestFramesWhileTheTargetGoes(t *testing.T) {
	eachTopology(t, func(t *testing.T, topo topology) {
		e := newEnvIn(t, wsrelay.Options{}, topo)
		tg := e.target(false)
		e.relayTo(tg.PID, "")
		c := e.dial(t, nil)
		tg.Next("ws.join")
		const n = 200
		wrote := make(chan struct{})
		go func() {
			defer close(wrote)
			for i := range n {
				if c.WriteText(itoa(i)) != nil {
					return
				}
			}
		}()
		first := tg.Next("ws.message")
		if topo.remote {
			e.cut()
			closedAndGone(t, e.rl, c, 1011, "target node lost")
		} else {
			tg.Exit(errors.New("room crashed"))
			closedAndGone(t, e.rl, c, 1011, "target failed")
		}
		<-wrote
		got := []string{str(first, "data")}
		for len(tg.Msgs) > 0 {
			if m := <-tg.Msgs; m.Topic == "ws.message" {
				got = append(got, str(m, "data"))
			}
		}
		for i, d := range got {
			if d != itoa(i) {
				t.Fatalf("frame %d is %q: frames were reordered or lost in the middle", i, d)
			}
		}
	})
}

// downLink is a transport to node n2 that carries every signal until its
// node goes down, then refuses each as the cluster does for a lost node.
// It never reports the loss (no EXIT noconnection follows), so only the
// failed send can tell the relay. It records the frames it carried.
type downLink struct {
	mu     sync.Mutex
	down   bool
	joins  int
	client string // the client_pid of the last join
	frames []string
}

func (l *downLink) Deliver(s transport.Signal) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.down {
		return fmt.Errorf("cluster: node %q: %w", s.To.Node, cluster.ErrNodeDown)
	}
	if s.Kind == transport.SigMessage {
		switch s.Topic {
		case wsrelay.TopicJoin:
			l.joins++
			c, _ := s.Payload.Get("client_pid")
			l.client, _ = c.Text()
		case "ws.message":
			d, _ := s.Payload.Get("data")
			txt, _ := d.Text()
			l.frames = append(l.frames, txt)
		}
	}
	return nil
}

func (l *downLink) goDown() {
	l.mu.Lock()
	l.down = true
	l.mu.Unlock()
}

func (l *downLink) state() (joins int, frames []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.joins, append([]string(nil), l.frames...)
}

func (l *downLink) clientPID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.client
}

// overDownLink serves a relay on node n1 over link, whose handler sets
// header; it returns the relay, the node and the ws:// URL.
func overDownLink(t *testing.T, link transport.Transport, header string) (*wsrelay.Relay, *process.Node, string, *testlog.Buffer) {
	t.Helper()
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	node, err := process.NewNode(&process.Options{Name: "n1", Logger: log, Transport: link})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.AddHost(host, nil); err != nil {
		t.Fatal(err)
	}
	rl, err := wsrelay.New(wsrelay.Options{Node: node, Logger: log, Route: "test:ws"})
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
	_, url := relaytest.Serve(t, rl, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set(wsrelay.HeaderName, header)
	}))
	return rl, node, url, logs
}

// TestSendToALostNodeClosesTheClient: when the target's node is found
// lost by a send (the frame, the heartbeat, the old target's ws.leave of
// a transfer) before its loss is reported, the client is closed then,
// with 1011 "target node lost": what it sent before reached the target,
// what it sent after is not dropped with the client left open.
func TestSendToALostNodeClosesTheClient(t *testing.T) {
	target := pid.PID{Node: "n2", Host: host, ID: 7}
	for _, way := range []string{"frame", "heartbeat", "transfer"} {
		t.Run(way, func(t *testing.T) {
			link := &downLink{}
			header := `{"target_pid":"` + target.String() + `"}`
			if way == "heartbeat" {
				header = `{"target_pid":"` + target.String() + `","heartbeat_interval":"10ms"}`
			}
			rl, node, url, logs := overDownLink(t, link, header)
			c, _, err := wsclient.Dial(url, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.WriteText("before"); err != nil {
				t.Fatal(err)
			}
			poll.Until(t, timeout, "the join and the first frame to go", func() bool {
				joins, frames := link.state()
				return joins == 1 && len(frames) == 1
			})
			link.goDown()
			switch way {
			case "frame":
				if err := c.WriteText("after"); err != nil {
					t.Fatal(err)
				}
			case "transfer":
				// A process moves the client to a target on the relay's
				// node: the old target's leave cannot go.
				newT := proctest.Spawn(t, node, host, nil)
				newT.Send(link.clientPID(), "ws.control", value.MustOf(map[string]any{"target_pid": newT.PID.String()}))
				defer func() {
					select {
					case m := <-newT.Msgs:
						t.Errorf("the new target got %s from a client that was closed", m.Topic)
					default:
					}
				}()
			}
			closedAndGone(t, rl, c, 1011, "target node lost")
			if _, frames := link.state(); strings.Join(frames, ",") != "before" {
				t.Errorf("frames carried: %v", frames)
			}
			poll.Until(t, timeout, "the close to be logged", func() bool {
				return strings.Contains(logs.String(), "cannot send to the relay target; closing the client")
			})
		})
	}
}

// beatLink is a transport to node n2 whose queue refuses ws.heartbeat
// with process.ErrBacklog while shut, and carries everything else.
type beatLink struct {
	mu      sync.Mutex
	shut    bool
	refused int
	beats   int
	frames  int
}

func (l *beatLink) Deliver(s transport.Signal) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case s.Kind == transport.SigMessage && s.Topic == wsrelay.TopicBeat && l.shut:
		l.refused++
		return process.ErrBacklog
	case s.Kind == transport.SigMessage && s.Topic == wsrelay.TopicBeat:
		l.beats++
	case s.Kind == transport.SigMessage && s.Topic == "ws.message":
		l.frames++
	}
	return nil
}

func (l *beatLink) counts() (refused, beats, frames int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.refused, l.beats, l.frames
}

// TestHeartbeatsOutlastAFullQueue: heartbeats refused for a full queue
// toward the target's node are dropped, the next ones follow once there
// is room, and the client is not closed for it.
func TestHeartbeatsOutlastAFullQueue(t *testing.T) {
	link := &beatLink{shut: true}
	target := pid.PID{Node: "n2", Host: host, ID: 7}
	_, _, url, _ := overDownLink(t, link, `{"target_pid":"`+target.String()+`","heartbeat_interval":"10ms"}`)
	c, _, err := wsclient.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	poll.Until(t, timeout, "heartbeats to be refused", func() bool {
		refused, _, _ := link.counts()
		return refused >= 3
	})
	link.mu.Lock()
	link.shut = false
	link.mu.Unlock()
	poll.Until(t, timeout, "heartbeats to go again", func() bool {
		_, beats, _ := link.counts()
		return beats >= 3
	})
	if err := c.WriteText("still open"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "the client's frame to go", func() bool {
		_, _, frames := link.counts()
		return frames == 1
	})
}

// TestTransferToItself: a ws.control naming the client's own PID cannot
// make the connection its own target (it cannot monitor itself): the old
// target gets its ws.leave (transferred) and the client is closed 1011
// "cannot relay to the target", not left relaying its frames to itself.
func TestTransferToItself(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client := str(tg.Next("ws.join"), "client_pid")
	tg.Send(client, "ws.control", value.MustOf(map[string]any{"target_pid": client}))
	if m := tg.Next("ws.leave"); str(m, "reason") != "transferred" {
		t.Errorf("old target's ws.leave %v", m.Payload)
	}
	closedAndGone(t, e.rl, c, 1011, "cannot relay to the target")
}
