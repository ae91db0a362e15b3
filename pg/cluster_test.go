package pg_test

import (
	"slices"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/netcut"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/pg"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

func TestClusterMembershipConverges(t *testing.T) {
	t.Parallel()
	_, nodes := cluster3(t)
	var all []pid.PID
	for _, n := range nodes {
		p := proctest.Spawn(t, n.node, host, nil)
		if err := n.scope.Join(p.PID, "room", "room"); err != nil {
			t.Fatal(err)
		}
		all = append(all, p.PID, p.PID)
	}
	waitMembers(t, "room", all, nodes...)
	for _, n := range nodes {
		if got := n.scope.LocalMembers("room"); len(got) != 2 || got[0].Node != n.name {
			t.Fatalf("node %s: local members %v", n.name, got)
		}
		if got := n.scope.Groups(); !slices.Equal(got, []string{"room"}) {
			t.Fatalf("node %s: groups %v", n.name, got)
		}
	}
	// One leave of two joins, seen everywhere.
	if err := nodes[1].scope.Leave(all[2], "room"); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, "room", slices.Delete(slices.Clone(all), 2, 3), nodes...)
}

func TestClusterMemberEndAndNodeLoss(t *testing.T) {
	t.Parallel()
	_, nodes := cluster3(t)
	a, b, c := nodes[0], nodes[1], nodes[2]
	pb := proctest.Spawn(t, b.node, host, nil)
	pc := proctest.Spawn(t, c.node, host, nil)
	for _, j := range []struct {
		n *testNode
		p pid.PID
	}{{b, pb.PID}, {c, pc.PID}} {
		if err := j.n.scope.Join(j.p, "room"); err != nil {
			t.Fatal(err)
		}
	}
	waitMembers(t, "room", []pid.PID{pb.PID, pc.PID}, a)
	sub, members, err := a.scope.Monitor("room")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if len(members) != 2 {
		t.Fatalf("snapshot %v", members)
	}
	// A member that ends: one member.left on the other nodes.
	pb.Exit(nil)
	if e := nextEvent(t, sub); e.Kind != pg.Left || !slices.Equal(e.PIDs, []pid.PID{pb.PID}) {
		t.Fatalf("%s %v, want member.left of %v", e.Kind, e.PIDs, pb.PID)
	}
	// A node lost without a goodbye: its members leave, once.
	c.nc.Close()
	if e := nextEvent(t, sub); e.Kind != pg.Left || !slices.Equal(e.PIDs, []pid.PID{pc.PID}) {
		t.Fatalf("%s %v, want member.left of %v", e.Kind, e.PIDs, pc.PID)
	}
	waitMembers(t, "room", nil, a, b)
	noEvent(t, sub)
}

func TestClusterNodeJoiningLaterGetsState(t *testing.T) {
	t.Parallel()
	s := natstest.Start(t, false)
	a := joinCluster(t, s, "a")
	p := proctest.Spawn(t, a.node, host, nil)
	if err := a.scope.Join(p.PID, "g1", "g2", "g2"); err != nil {
		t.Fatal(err)
	}
	b := joinCluster(t, s, "b")
	waitPeers(t, a, b)
	waitMembers(t, "g2", []pid.PID{p.PID, p.PID}, b)
	waitMembers(t, "g1", []pid.PID{p.PID}, b)
	q := proctest.Spawn(t, b.node, host, nil)
	if err := b.scope.Join(q.PID, "g1"); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, "g1", []pid.PID{p.PID, q.PID}, a, b)

	// b leaves and a new b comes: its old member is gone, its new one seen.
	sub, _, err := a.scope.Monitor("g1")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	b.stop(t)
	if e := nextEvent(t, sub); e.Kind != pg.Left || !slices.Equal(e.PIDs, []pid.PID{q.PID}) {
		t.Fatalf("%s %v, want member.left of %v", e.Kind, e.PIDs, q.PID)
	}
	b2 := joinCluster(t, s, "b")
	waitPeers(t, a, b2)
	waitMembers(t, "g2", []pid.PID{p.PID, p.PID}, b2)
	q2 := proctest.Spawn(t, b2.node, host, nil)
	if err := b2.scope.Join(q2.PID, "g1"); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent(t, sub); e.Kind != pg.Joined || !slices.Equal(e.PIDs, []pid.PID{q2.PID}) {
		t.Fatalf("%s %v, want member.joined of %v", e.Kind, e.PIDs, q2.PID)
	}
}

// TestBroadcastOneMessagePerNode counts the NATS messages between nodes:
// a broadcast to a group with members on two other nodes is two messages,
// however many members each has, and each member gets every broadcast of
// one sender in the order sent.
func TestBroadcastOneMessagePerNode(t *testing.T) {
	t.Parallel()
	s, nodes := cluster3(t)
	a := nodes[0]
	const perNode, rounds = 20, 50
	var probes []*proctest.Probe
	var want []pid.PID
	for _, n := range nodes {
		for range perNode {
			p := proctest.Spawn(t, n.node, host, nil)
			if err := n.scope.Join(p.PID, "room"); err != nil {
				t.Fatal(err)
			}
			probes = append(probes, p)
			want = append(want, p.PID)
		}
	}
	waitMembers(t, "room", want, nodes...)

	// Count what reaches the nodes' subjects from now on.
	watch, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	var msgs atomic.Int64
	sub, err := watch.Subscribe("wsrelay.node.*", func(*nats.Msg) { msgs.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}
	sender := proctest.Spawn(t, a.node, host, nil)
	signals := a.tr.Stats().SignalsOut
	for i := range rounds {
		if err := a.scope.Broadcast(sender.PID, "room", "news", value.Int(int64(i))); err != nil {
			t.Fatal(err)
		}
		for _, p := range probes { // each broadcast has arrived before the next goes
			m := p.Next("news")
			if v, _ := m.Payload.Int(); v != int64(i) || m.From != sender.PID {
				t.Fatalf("%v got %v from %v, want %d from %v", p.PID, m.Payload, m.From, i, sender.PID)
			}
		}
	}
	// The watcher hears the last ones a little after the nodes did.
	poll.Until(t, timeout, "the watcher hears every message", func() bool { return msgs.Load() >= rounds*2 })
	if err := watch.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = sub.Unsubscribe()
	if got, want := msgs.Load(), int64(rounds*2); got != want {
		t.Fatalf("%d NATS messages for %d broadcasts to members on two other nodes, want %d", got, rounds, want)
	}
	// And one signal in each: sends to each member would be batched into
	// as few messages, but not into as few signals.
	if got, want := a.tr.Stats().SignalsOut-signals, uint64(rounds*2); got != want {
		t.Fatalf("%d signals for %d broadcasts to members on two other nodes, want %d", got, rounds, want)
	}
}

// TestBroadcastOrderUnderLoad: one sender's broadcasts, sent without
// waiting, reach each member on every node in the order sent.
func TestBroadcastOrderUnderLoad(t *testing.T) {
	t.Parallel()
	_, nodes := cluster3(t)
	var probes []*proctest.Probe
	var want []pid.PID
	for _, n := range nodes {
		p := proctest.Spawn(t, n.node, host, nil)
		if err := n.scope.Join(p.PID, "room"); err != nil {
			t.Fatal(err)
		}
		probes, want = append(probes, p), append(want, p.PID)
	}
	waitMembers(t, "room", want, nodes...)
	const n = 2000
	sender := proctest.Spawn(t, nodes[1].node, host, nil)
	for i := range n {
		if err := nodes[1].scope.Broadcast(sender.PID, "room", "seq", value.Int(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range probes {
		for i := range n {
			if v, _ := p.Next("seq").Payload.Int(); v != int64(i) {
				t.Fatalf("%v got %d, want %d", p.PID, v, i)
			}
		}
	}
	// From no process (a function.lua handler): everywhere too.
	if err := nodes[1].scope.Broadcast(pid.PID{}, "room", "anon", value.Nil()); err != nil {
		t.Fatal(err)
	}
	for _, p := range probes {
		if m := p.Next("anon"); !m.From.IsZero() {
			t.Fatalf("%v got it from %v", p.PID, m.From)
		}
	}
}

// TestServiceAddedAfterPeersUp: a Service made once the node already
// sees the others still exchanges whole states with them.
func TestServiceAddedAfterPeersUp(t *testing.T) {
	t.Parallel()
	s := natstest.Start(t, false)
	a := joinCluster(t, s, "a")
	pa := proctest.Spawn(t, a.node, host, nil)
	if err := a.scope.Join(pa.PID, "g"); err != nil {
		t.Fatal(err)
	}
	// b: its node and transport first, its groups once it sees a.
	m := clustertest.Join(t, s.ClientURL(), "b", nil)
	b := &testNode{name: "b", node: nil, tr: m.Transport, nc: m.Conn}
	node, err := process.NewNode(&process.Options{Name: "b", Transport: m.Transport})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.AddHost(host, nil); err != nil {
		t.Fatal(err)
	}
	b.node = node
	m.Start(t, node, false)
	poll.Until(t, timeout, "b sees a", func() bool { return m.Transport.IsUp("a") })
	b.withService(t, pg.ScopeOptions{})
	t.Cleanup(func() { b.stop(t) })
	pb := proctest.Spawn(t, node, host, nil)
	if err := b.scope.Join(pb.PID, "g"); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, "g", []pid.PID{pa.PID, pb.PID}, a, b)
}

// TestClusterCutHeals: a node cut off from NATS is lost for the other and
// the other for it (its members leave on both sides); once the network
// heals, each gets the other's whole state again, and its members join.
func TestClusterCutHeals(t *testing.T) {
	t.Parallel()
	s := natstest.Start(t, false)
	px := netcut.Start(t, s.Addr().String())
	a := joinCluster(t, s, "a")
	b := joinClusterAt(t, "nats://"+px.Addr(), "b")
	waitPeers(t, a, b)
	pa := proctest.Spawn(t, a.node, host, nil)
	pb := proctest.Spawn(t, b.node, host, nil)
	if err := a.scope.Join(pa.PID, "g"); err != nil {
		t.Fatal(err)
	}
	if err := b.scope.Join(pb.PID, "g"); err != nil {
		t.Fatal(err)
	}
	both := []pid.PID{pa.PID, pb.PID}
	waitMembers(t, "g", both, a, b)
	subA, _, err := a.scope.Monitor("g")
	if err != nil {
		t.Fatal(err)
	}
	defer subA.Close()

	px.SetCut(true)
	if e := nextEvent(t, subA); e.Kind != pg.Left || !slices.Equal(e.PIDs, []pid.PID{pb.PID}) {
		t.Fatalf("%s %v, want member.left of b's member", e.Kind, e.PIDs)
	}
	waitMembers(t, "g", []pid.PID{pb.PID}, b) // b lost a too
	// A change while cut reaches the other side once healed.
	if err := b.scope.Join(pb.PID, "g2"); err != nil {
		t.Fatal(err)
	}
	px.SetCut(false)
	waitPeers(t, a, b)
	if e := nextEvent(t, subA); e.Kind != pg.Joined || !slices.Equal(e.PIDs, []pid.PID{pb.PID}) {
		t.Fatalf("%s %v, want member.joined of b's member", e.Kind, e.PIDs)
	}
	waitMembers(t, "g", both, a, b)
	waitMembers(t, "g2", []pid.PID{pb.PID}, a, b)
	noEvent(t, subA)
}
