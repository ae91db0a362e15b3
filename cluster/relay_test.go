package cluster_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/internal/relaytest"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// relayOn serves the WebSocket relay of node n on 127.0.0.1, relaying
// every connection to target (which may live on another node).
func relayOn(t *testing.T, n *testNode, target pid.PID) string {
	t.Helper()
	url, _ := relayServer(t, n, target)
	return url
}

// relayServer is relayOn that also returns the relay.
func relayServer(t *testing.T, n *testNode, target pid.PID) (string, *wsrelay.Relay) {
	t.Helper()
	rl, err := wsrelay.New(wsrelay.Options{Node: n.node, Route: "test:ws"})
	if err != nil {
		t.Fatal(err)
	}
	_, url := relaytest.Serve(t, rl, relaytest.To(target))
	return url, rl
}

func dial(t *testing.T, url string) *wsclient.Client {
	t.Helper()
	c, _, err := wsclient.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRelayTargetOnAnotherNode: a client connected to node a whose target
// lives on node b: join and frames reach b, what b sends reaches the
// client, and the target's last frame arrives before the close its end
// causes (order per pair across nodes).
func TestRelayTargetOnAnotherNode(t *testing.T) {
	t.Parallel()
	a, b, _ := cluster3(t)
	target := proctest.Spawn(t, b.node, host, nil)
	c := dial(t, relayOn(t, a, target.PID))

	join := target.Next("ws.join")
	cv, _ := join.Payload.Get("client_pid")
	client, _ := cv.Text()
	if join.From.Node != "a" || !strings.HasPrefix(client, "{a@") {
		t.Fatalf("ws.join from %v, client %s: want a client of node a", join.From, client)
	}
	if err := c.WriteText("hello b"); err != nil {
		t.Fatal(err)
	}
	if d, _ := target.Next("ws.message").Payload.Get("data"); !value.Equal(d, value.String("hello b")) {
		t.Fatalf("ws.message data %v", d)
	}
	var err error
	target.Run(func(p *process.Process) {
		err = p.SendDest(client, "ws.send", value.String("hello a"))
		if err == nil {
			err = p.SendDest(client, "ws.send", value.String("goodbye"))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	target.Exit(nil)
	for _, want := range []string{"hello a", "goodbye"} {
		if s, err := c.ReadText(); s != want {
			t.Fatalf("client read %q, %v; want %q", s, err, want)
		}
	}
	if code, reason, _ := c.ReadClose(); code != 1000 {
		t.Fatalf("close %d %q after the remote target exited, want 1000", code, reason)
	}
}

// TestRelayTargetNodeLost: when the target's node is lost, the client is
// closed with 1011 "target node lost".
func TestRelayTargetNodeLost(t *testing.T) {
	t.Parallel()
	a, b, _ := cluster3(t)
	target := proctest.Spawn(t, b.node, host, nil)
	c := dial(t, relayOn(t, a, target.PID))
	target.Next("ws.join")
	b.nc.Close()
	if code, reason, _ := c.ReadClose(); code != 1011 || reason != "target node lost" {
		t.Fatalf("close %d %q when the target's node was lost, want 1011 \"target node lost\"", code, reason)
	}
}

// TestRelayTransferAcrossNodes: a client streams numbered frames while its
// target on node a moves it to a target on node b. Each frame reaches
// exactly one target, in order: the old one's frames, then its ws.leave;
// the new one's ws.join, then the rest.
func TestRelayTransferAcrossNodes(t *testing.T) {
	t.Parallel()
	a, b, _ := cluster3(t)
	old := proctest.Spawn(t, a.node, host, nil)
	next := proctest.Spawn(t, b.node, host, nil)
	c := dial(t, relayOn(t, a, old.PID))
	cv, _ := old.Next("ws.join").Payload.Get("client_pid")
	client, _ := cv.Text()

	const frames = 2000
	sent := make(chan error, 1)
	go func() {
		for i := range frames {
			if err := c.WriteText(strconv.Itoa(i)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	want := 0
	// read takes frames from pr in order until the topic until, or until
	// frame number stop has been read.
	read := func(pr *proctest.Probe, until string, stop int) {
		t.Helper()
		for want < stop {
			m := pr.Recv()
			if m.Topic == until {
				return
			}
			if m.Topic != "ws.message" {
				t.Fatalf("%v got %s", pr.PID, m.Topic)
			}
			d, _ := m.Payload.Get("data")
			if s, _ := d.Text(); s != strconv.Itoa(want) {
				t.Fatalf("%v got frame %q, want %d", pr.PID, s, want)
			}
			want++
		}
	}
	read(old, "", frames/4) // the old target has a share before the move
	var err error
	old.Run(func(p *process.Process) {
		err = p.SendDest(client, "ws.control", value.MustOf(map[string]any{"target_pid": next.PID.String()}))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	read(old, "ws.leave", frames+1)
	moved := want
	next.Next("ws.join")
	read(next, "", frames)
	if want != frames {
		t.Fatalf("%d of %d frames arrived", want, frames)
	}
	t.Logf("%d frames to the old target on a, %d to the new one on b", moved, frames-moved)
}

// clientOf returns the client_pid of a relay message.
func clientOf(m process.Message) string {
	v, _ := m.Payload.Get("client_pid")
	s, _ := v.Text()
	return s
}

// leavesAfterLoss returns the ws.leave messages pr received once node
// lost was down for pr's node: pr monitors watched, a process of lost,
// so its EXIT noconnection comes after every leave sent on a lost
// client's behalf (the runtime delivers those first); a marker from
// marker then closes the mailbox's share of the loss.
func leavesAfterLoss(t *testing.T, pr, marker *proctest.Probe) []process.Message {
	t.Helper()
	return leavesAfterLossTopic(t, pr, marker, "ws.leave")
}

// leavesAfterLossTopic is leavesAfterLoss for messages on topic.
func leavesAfterLossTopic(t *testing.T, pr, marker *proctest.Probe, topic string) []process.Message {
	t.Helper()
	if ev := pr.Event(); ev.Kind != process.EventExit || !errors.Is(ev.Result.Err, process.ErrNoConnection) {
		t.Fatalf("%v: event %+v, want EXIT noconnection", pr.PID, ev)
	}
	marker.Send(pr.PID.String(), "marker", value.Nil())
	var leaves []process.Message
	for {
		m := pr.Recv()
		switch m.Topic {
		case "marker":
			return leaves
		case topic:
			leaves = append(leaves, m)
		}
	}
}

// TestRelayClientNodeLost: when the client's node is lost, each target on
// another node gets one ws.leave, reason node_down, per client of that
// node still joined to it; a client that had left, or moved to another
// target, gets no second leave.
func TestRelayClientNodeLost(t *testing.T) {
	t.Parallel()
	a, b, _ := cluster3(t)
	target := proctest.Spawn(t, b.node, host, nil)
	other := proctest.Spawn(t, b.node, host, nil)
	marker := proctest.Spawn(t, b.node, host, nil)
	url := relayOn(t, a, target.PID)

	stays := dial(t, url)
	join := target.Next("ws.join")
	stayPID := clientOf(join)
	noMeta, _ := join.Payload.Get("metadata")
	left := dial(t, url)
	leftPID := clientOf(target.Next("ws.join"))
	moves := dial(t, url)
	movePID := clientOf(target.Next("ws.join"))
	_, _ = stays, moves // they stay connected until node a is lost

	if err := left.WriteClose(1000, "bye"); err != nil {
		t.Fatal(err)
	}
	if m := target.Next("ws.leave"); clientOf(m) != leftPID {
		t.Fatalf("ws.leave for %s, want %s", clientOf(m), leftPID)
	}
	var err error
	target.Run(func(p *process.Process) {
		err = p.SendDest(movePID, "ws.control", value.MustOf(map[string]any{
			"target_pid": other.PID.String(), "metadata": map[string]any{"room": "moved"}}))
	})
	if err != nil {
		t.Fatal(err)
	}
	if m := target.Next("ws.leave"); clientOf(m) != movePID {
		t.Fatalf("ws.leave for %s, want %s (transferred)", clientOf(m), movePID)
	}
	if m := other.Next("ws.join"); clientOf(m) != movePID {
		t.Fatalf("ws.join for %s, want %s", clientOf(m), movePID)
	}

	watched := proctest.Spawn(t, a.node, host, nil)
	target.Monitor(watched.PID)
	other.Monitor(watched.PID)
	lost := time.Now()
	a.nc.Close() // node a is lost: no goodbye, its heartbeats stop

	for _, c := range []struct {
		pr     *proctest.Probe
		client string
		meta   value.Value
	}{
		{target, stayPID, noMeta},
		{other, movePID, value.MustOf(map[string]any{"room": "moved"})},
	} {
		leaves := leavesAfterLoss(t, c.pr, marker)
		if len(leaves) != 1 {
			t.Fatalf("%v got %d ws.leave after node a was lost, want 1: %v", c.pr.PID, len(leaves), leaves)
		}
		m := leaves[0]
		reason, _ := m.Payload.Get("reason")
		meta, _ := m.Payload.Get("metadata")
		if clientOf(m) != c.client || !value.Equal(reason, value.String("node_down")) || !value.Equal(meta, c.meta) {
			t.Fatalf("%v got ws.leave %v from %v, want client %s, reason node_down, metadata %v", c.pr.PID, m.Payload, m.From, c.client, c.meta)
		}
		if m.From.String() != c.client {
			t.Fatalf("the node_down leave comes from %v, want the client %s", m.From, c.client)
		}
	}
	t.Logf("the targets had their node_down leaves %v after node a's NATS connection closed (heartbeat timeout 1s)", time.Since(lost).Round(time.Millisecond))
}

// TestRelayClientNodeLeaves: a node that shuts down and leaves sends its
// clients' targets ws.leave shutdown before its goodbye, and nothing more:
// no node_down leave follows (the goodbye travels in order after the
// signals the node sent before it).
func TestRelayClientNodeLeaves(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	logs := &testlog.Buffer{}
	bOpts := fastOptions()
	bOpts.Logger = slog.New(slog.NewTextHandler(logs, nil))
	a, b := startNode(t, s, "a", nil), startNode(t, s, "b", bOpts)
	waitPeers(t, a, b)
	target := proctest.Spawn(t, b.node, host, nil)
	marker := proctest.Spawn(t, b.node, host, nil)
	url, rl := relayServer(t, a, target.PID)
	const clients = 20
	want := map[string]bool{}
	for range clients {
		dial(t, url)
		want[clientOf(target.Next("ws.join"))] = true
	}
	// As wsrelay run stops: the relay (its clients' targets get
	// ws.leave), the node, then the transport (goodbye).
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rl.Shutdown(ctx)
	a.stop(t)
	poll.Until(t, timeout, "node b to have taken node a down", func() bool {
		return strings.Contains(logs.String(), "node down") && strings.Contains(logs.String(), "node=a")
	})
	marker.Send(target.PID.String(), "marker", value.Nil())
	for m := target.Recv(); m.Topic != "marker"; m = target.Recv() {
		reason, _ := m.Payload.Get("reason")
		if m.Topic != "ws.leave" || !value.Equal(reason, value.String("shutdown")) || !want[clientOf(m)] {
			t.Fatalf("%s %v: want one ws.leave shutdown per client of a, then nothing", m.Topic, m.Payload)
		}
		delete(want, clientOf(m))
	}
	if len(want) != 0 {
		t.Fatalf("no ws.leave for %v", want)
	}
}
