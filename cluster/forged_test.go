package cluster_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
)

// TestRelationSignalsMustComeFromTheirSendersNode: a batch from node a
// whose monitor, link, demonitor, unlink, EXIT or LINK_EXIT names a sender
// on another node (c, or no node, which would look local) is not applied:
// when c is lost, b's processes get no notice "from" c and are not taken
// down by a link c never made; the drops are counted. A message in the
// same batch with a sender on c still arrives.
func TestRelationSignalsMustComeFromTheirSendersNode(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	a, b := startNode(t, s, "a", nil), startNode(t, s, "b", nil)
	waitPeers(t, a, b)

	noticed := proctest.Spawn(t, b.node, host, nil) // gets a forged monitor with notice
	linked := proctest.Spawn(t, b.node, host, nil)  // gets a forged link
	watcher := proctest.Spawn(t, b.node, host, nil)
	watcher.Monitor(linked.PID)
	noNode := watcher.PID
	noNode.Node = ""
	ghost := pid.PID{Node: "c", Host: host, ID: 5}
	lost := transport.Result{Err: process.ErrNoConnection}
	forged := []transport.Signal{
		{Kind: transport.SigMonitor, From: ghost, To: noticed.PID, Topic: "gone", Payload: value.Nil()},
		{Kind: transport.SigMonitor, From: noNode, To: noticed.PID, Topic: "gone", Payload: value.Nil()},
		{Kind: transport.SigLink, From: ghost, To: linked.PID},
		{Kind: transport.SigDemonitor, From: ghost, To: watcher.PID},
		{Kind: transport.SigUnlink, From: ghost, To: watcher.PID},
		{Kind: transport.SigExit, From: ghost, To: watcher.PID, Result: lost},
		{Kind: transport.SigLinkExit, From: ghost, To: watcher.PID, Result: lost},
		{Kind: transport.SigMessage, From: ghost, To: noticed.PID, Topic: "kept", Payload: value.Nil()},
	}
	if err := a.nc.Publish(b.tr.NodeSubject("b"), cluster.EncodeBatch("a", a.tr.Incarnation(), forged...)); err != nil {
		t.Fatal(err)
	}
	if m := noticed.Next("kept"); m.From != ghost {
		t.Fatalf("the message came from %v, want %v", m.From, ghost)
	}

	b.tr.Side().NodeDown("c") // what b does when it loses c
	noticed.Send(noticed.PID.String(), "marker", value.Nil())
	noticed.Next("marker") // a forged notice would come first
	linked.Exit(nil)
	if r := watcher.Await(linked.PID); r.Err != nil {
		t.Fatalf("the process with a forged link ended with %v, want a normal end", r.Err)
	}
	if got, want := b.tr.Stats().Misattributed, uint64(len(forged)-1); got != want {
		t.Fatalf("Misattributed = %d, want %d", got, want)
	}
}

// TestForgedHeartbeatsAreBounded: heartbeats forged by a connection that
// is no node, naming node b (up, holding a claim) with the greatest
// incarnation and with another one, and naming node d (not started) with
// the greatest incarnation, take nobody down: b stays up for a and c, for
// longer than the heartbeat timeout, its watchers hear nothing and its
// claim stays its own, so what runs under it runs once. The forged d is
// up for one timeout, and the real d, started meanwhile with the least
// incarnation, is admitted once it expires.
func TestForgedHeartbeatsAreBounded(t *testing.T) {
	t.Parallel()
	s := natstest.StartJetStream(t)
	url := s.ClientURL()
	var a, b, c *testNode
	var names = map[string]*cluster.Names{}
	for _, n := range []**testNode{&a, &b, &c} {
		name := string(rune('a' + len(names)))
		tn, nm := joinNode(t, url, name, nil, nil, true)
		t.Cleanup(func() { tn.stop(t) })
		*n, names[name] = tn, nm
	}
	waitPeers(t, a, b, c)
	holder := proctest.Spawn(t, b.node, host, nil)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := names["b"].Claim(ctx, "{service}once", holder.PID); err != nil {
		t.Fatal(err)
	}
	var watchersOfB []*proctest.Probe
	for _, n := range []*testNode{a, c} {
		w := proctest.Spawn(t, n.node, host, nil)
		w.Monitor(holder.PID)
		watchersOfB = append(watchersOfB, w)
		poll.Until(t, timeout, "the claim reaches "+n.name, func() bool {
			p, ok := names[n.name].LookupName("{service}once")
			return ok && p == holder.PID
		})
	}

	forger, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	subject := a.tr.HeartbeatSubject()
	for _, hb := range [][]byte{
		cluster.EncodeHeartbeat("b", math.MaxUint64),
		cluster.EncodeHeartbeat("b", b.tr.Incarnation()+1),
		cluster.EncodeHeartbeat("d", math.MaxUint64),
		cluster.EncodeHeartbeat("marker", 7), // heard after the others
	} {
		if err := forger.Publish(subject, hb); err != nil {
			t.Fatal(err)
		}
	}
	seen := func(n *testNode, name string) bool { return slices.Contains(n.tr.Peers(), name) }
	poll.Until(t, timeout, "a and c hear the forged heartbeats", func() bool { return seen(a, "marker") && seen(c, "marker") })
	d := startNodeInc(t, url, "d", 1) // a host whose clock went back, or a forger's greater number: d is admitted all the same
	poll.Until(t, timeout, "the forged nodes, silent, are down a timeout later", func() bool {
		return !seen(a, "marker") && !seen(c, "marker")
	})
	waitPeers(t, a, b, c, d)
	for i, w := range watchersOfB {
		var pending bool
		w.Run(func(p *process.Process) { _, pending, _ = p.TryReceiveEvent() })
		if pending || len(w.Events) > 0 {
			t.Errorf("a watcher of b's process on %s heard of it: b was taken down", []string{"a", "c"}[i])
		}
	}
	for _, n := range []string{"a", "c"} {
		if p, ok := names[n].LookupName("{service}once"); !ok || p != holder.PID {
			t.Errorf("%s: the claim is held by %v (%v), want b's %v", n, p, ok, holder.PID)
		}
	}
}

// startNodeInc is startNode with the incarnation inc, through the NATS at
// url.
func startNodeInc(t *testing.T, url, name string, inc uint64) *testNode {
	t.Helper()
	m := clustertest.Join(t, url, name, nil)
	m.Transport.SetIncarnation(inc)
	n, err := process.NewNode(&process.Options{Name: name, Transport: m.Transport})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddHost(host, nil); err != nil {
		t.Fatal(err)
	}
	m.Start(t, n, false)
	tn := &testNode{name: name, node: n, tr: m.Transport, nc: m.Conn}
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

// TestRestartWithClockBack: a node restarted with a lesser incarnation
// than its last one (its host's clock went back) is admitted once the
// last one is lost, and its processes are reachable.
func TestRestartWithClockBack(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	a := startNode(t, s, "a", nil)
	b1 := startNodeInc(t, s.ClientURL(), "b", 1<<62)
	waitPeers(t, a, b1)
	old := proctest.Spawn(t, b1.node, host, nil)
	mon, trap := watchers(t, a, old)
	b1.nc.Close() // killed
	b2 := startNodeInc(t, s.ClientURL(), "b", 1<<40)
	expectNoConnection(t, mon, trap, old.PID, time.Now())
	waitPeers(t, a, b2)
	expectDelivered(t, a, b2, "hello")
}

// TestFullPeerTableIsSaid: heartbeats of more made-up node names than the
// peer table holds, all up at once, fill it at its bound; the heartbeats
// past it are refused, and the node says so in its log (a real node's
// would be refused the same way, not silently).
func TestFullPeerTableIsSaid(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	slow := &cluster.Options{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: time.Hour} // the made-up names stay up
	a := startLoggedNode(t, s, "a", slow)
	forger, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	for i := range 1100 {
		if err := forger.Publish(a.tr.HeartbeatSubject(), cluster.EncodeHeartbeat(fmt.Sprintf("fake%d", i), 7)); err != nil {
			t.Fatal(err)
		}
	}
	if err := forger.Flush(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "a says its peer table is full", func() bool {
		return strings.Contains(a.logs.String(), "the peer table is full")
	})
	if n := len(a.tr.Peers()); n != 1024 {
		t.Errorf("a sees %d peers up, want the table's bound, 1024", n)
	}
}
