package cluster_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/netcut"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// startJetStream runs a NATS server with JetStream, storing in a
// temporary directory.
func startJetStream(t testing.TB) *server.Server {
	t.Helper()
	return natstest.Start(t, true)
}

type namedNode struct {
	*testNode
	names *cluster.Names
}

// startNamedNode is startNode with cluster-wide names.
func startNamedNode(t testing.TB, s *server.Server, name string) *namedNode {
	t.Helper()
	return startNamedNodeAt(t, s.ClientURL(), name)
}

// startNamedNodeAt is startNamedNode through the NATS at url (a proxy,
// say).
func startNamedNodeAt(t testing.TB, url, name string) *namedNode {
	t.Helper()
	tn, names := joinNode(t, url, name, nil, nil, true)
	t.Cleanup(func() {
		names.Close()
		tn.stop(t)
	})
	return &namedNode{testNode: tn, names: names}
}

func register(t testing.TB, n *namedNode, name string, p *proctest.Probe) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return n.names.Register(ctx, name, p.PID)
}

// TestClusterNameRace: two nodes register the same name at the same
// moment, many times over: exactly one wins each time, and the other is
// told who holds it.
func TestClusterNameRace(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	a, b := startNamedNode(t, s, "a"), startNamedNode(t, s, "b")
	waitPeers(t, a.testNode, b.testNode)
	pa, pb := proctest.Spawn(t, a.node, host, nil), proctest.Spawn(t, b.node, host, nil)
	for i := range 20 {
		name := "room:" + strconv.Itoa(i)
		var wg sync.WaitGroup
		var errA, errB error
		wg.Go(func() { errA = register(t, a, name, pa) })
		wg.Go(func() { errB = register(t, b, name, pb) })
		wg.Wait()
		if (errA == nil) == (errB == nil) {
			t.Fatalf("%s: a: %v, b: %v; want exactly one winner", name, errA, errB)
		}
		loser, winner := errB, pa
		if errA != nil {
			loser, winner = errA, pb
		}
		if !errors.Is(loser, process.ErrNameTaken) || !strings.Contains(loser.Error(), winner.PID.String()) {
			t.Fatalf("%s: the loser was told %v, want the holder %v named", name, loser, winner.PID)
		}
	}
}

// TestClusterNameResolveAndRelease: a cluster name resolves on every node,
// before a local name of the same spelling; it is released when its
// process ends and when its node is lost.
func TestClusterNameResolveAndRelease(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	a, b, c := startNamedNode(t, s, "a"), startNamedNode(t, s, "b"), startNamedNode(t, s, "c")
	waitPeers(t, a.testNode, b.testNode, c.testNode)

	holder := proctest.Spawn(t, a.node, host, nil)
	if err := register(t, a, "lobby", holder); err != nil {
		t.Fatal(err)
	}
	local := proctest.Spawn(t, c.node, host, nil)
	local.Register("lobby") // a local name of the same spelling on c
	sender := proctest.Spawn(t, c.node, host, nil)
	poll.Until(t, timeout, "c learns the cluster name", func() bool {
		p, ok := c.names.LookupName("lobby")
		return ok && p == holder.PID
	})
	sender.Send("lobby", "hi", value.Nil())
	if m := holder.Next("hi"); m.From != sender.PID {
		t.Fatalf("holder got %v", m)
	}

	// Released when its process ends: b can take it.
	pb := proctest.Spawn(t, b.node, host, nil)
	holder.Exit(nil)
	poll.Until(t, timeout, "the name is free after its holder ended", func() bool { return register(t, b, "lobby", pb) == nil })

	// Released when its node is lost: c can take it.
	b.nc.Close()
	pc := proctest.Spawn(t, c.node, host, nil)
	lost := time.Now()
	poll.Until(t, timeout, "the name is free after its node was lost", func() bool { return register(t, c, "lobby", pc) == nil })
	t.Logf("name free %v after its node was lost", time.Since(lost))
	if p, _ := a.names.LookupName("lobby"); p != pc.PID {
		poll.Until(t, timeout, "a sees the new holder", func() bool { p, _ := a.names.LookupName("lobby"); return p == pc.PID })
	}
}

// TestClusterNameOfUnheardNode: a name held by a node that nobody has
// heard from (lost before the others started) is released once a node has
// been connected long enough to hear any live node; a name held by a live
// node is not.
func TestClusterNameOfUnheardNode(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	kv := openBucket(t, s)
	putName(t, kv, "lobby", "{ghost@app:rooms|1}")

	b := startNamedNode(t, s, "b")
	holder := proctest.Spawn(t, b.node, host, nil)
	if err := register(t, b, "hall", holder); err != nil {
		t.Fatal(err)
	}
	a := startNamedNode(t, s, "a")
	if p, ok := a.names.Holder("lobby"); !ok || p.Node != "ghost" {
		t.Fatalf("lobby: %v %v, want the ghost's process in the table at first", p, ok)
	}
	if p, ok := a.names.LookupName("lobby"); ok {
		t.Fatalf("lobby resolves to %v, a process of a node nobody hears", p)
	}
	started := time.Now()
	poll.Until(t, timeout, "the ghost's name released", func() bool {
		_, held := a.names.Holder("lobby")
		return !held
	})
	t.Logf("released %v after the node started (heartbeat timeout %v)", time.Since(started), fastOptions().HeartbeatTimeout)
	if _, err := kv.Get(context.Background(), bucketKey("lobby")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("the ghost's name is still in the bucket: %v", err)
	}
	// b may have released it; by two sweeps of a's own, a would have too.
	poll.Until(t, timeout, "a sweeps twice", func() bool { return a.names.Swept() >= 2 })
	for _, n := range []*namedNode{a, b} {
		if p, ok := n.names.LookupName("hall"); !ok || p != holder.PID {
			t.Fatalf("on %s, hall: %v %v; want b's %v: a live node's name was released", n.name, p, ok, holder.PID)
		}
	}
}

// TestClusterNamesSurviveOwnCut: a node cut off from NATS long enough to
// take the others for lost does not release their names when it comes
// back: the silence was its own. So with a connection that hangs rather
// than closes.
func TestClusterNamesSurviveOwnCut(t *testing.T) {
	t.Parallel()
	t.Run("cut", func(t *testing.T) { testNamesSurviveOwnCut(t, (*netcut.Proxy).SetCut) })
	t.Run("hang", func(t *testing.T) { testNamesSurviveOwnCut(t, (*netcut.Proxy).SetHang) })
}

func testNamesSurviveOwnCut(t *testing.T, cut func(*netcut.Proxy, bool)) {
	t.Parallel()
	s := startJetStream(t)
	px := netcut.Start(t, s.Addr().String())
	a := startNamedNodeAt(t, "nats://"+px.Addr(), "a")
	b := startNamedNode(t, s, "b")
	waitPeers(t, a.testNode, b.testNode)
	holder := proctest.Spawn(t, b.node, host, nil)
	if err := register(t, b, "hall", holder); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "a learns the name", func() bool { p, _ := a.names.LookupName("hall"); return p == holder.PID })

	cut(px, true)
	poll.Until(t, timeout, "a takes b for lost", func() bool { return len(a.tr.Peers()) == 0 })
	cut(px, false)
	waitPeers(t, a.testNode, b.testNode)

	// Whatever a sent on its way back went before this registration.
	marker := proctest.Spawn(t, a.node, host, nil)
	poll.Until(t, timeout, "a registers once back", func() bool { return register(t, a, "marker", marker) == nil })
	poll.Until(t, timeout, "b learns a's name", func() bool { p, _ := b.names.LookupName("marker"); return p == marker.PID })
	for _, n := range []*namedNode{a, b} {
		if p, ok := n.names.LookupName("hall"); !ok || p != holder.PID {
			t.Fatalf("on %s, hall: %v %v; want b's %v, which never stopped", n.name, p, ok, holder.PID)
		}
	}
}

// TestClusterNameOfEndedLocalProcess: a name the bucket holds for a
// process of this node that is not alive (a registration whose answer
// was lost while NATS was away, so the keeper never heard of it) is
// released by the node's sweep.
func TestClusterNameOfEndedLocalProcess(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	a := startNamedNode(t, s, "a")
	gone := proctest.Spawn(t, a.node, host, nil)
	gone.Exit(nil)
	poll.Until(t, timeout, "the process ended", func() bool { return !a.node.Alive(gone.PID) })
	live := proctest.Spawn(t, a.node, host, nil)
	if err := register(t, a, "kept", live); err != nil {
		t.Fatal(err)
	}
	putName(t, openBucket(t, s), "leaked", gone.PID.String())
	poll.Until(t, timeout, "a learns the leaked name", func() bool { _, ok := a.names.Holder("leaked"); return ok })
	if p, ok := a.names.LookupName("leaked"); ok {
		t.Fatalf("leaked resolves to %v, a process that has ended", p)
	}
	poll.Until(t, timeout, "the leaked name released", func() bool { _, ok := a.names.Holder("leaked"); return !ok })
	if p, ok := a.names.LookupName("kept"); !ok || p != live.PID {
		t.Fatalf("kept: %v %v, want the live holder %v", p, ok, live.PID)
	}
}

// openBucket opens the cluster's name bucket on s as any NATS participant
// can, for tests that write into it behind the nodes' backs (creating it
// when no node has yet).
func openBucket(t *testing.T, s *server.Server) jetstream.KeyValue {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: cluster.DefaultCluster + "_names", History: 1})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// bucketKey is the key a name is kept under.
func bucketKey(name string) string { return "n." + base64.RawURLEncoding.EncodeToString([]byte(name)) }

// putName creates name in the bucket, holding val, as no node would.
func putName(t *testing.T, kv jetstream.KeyValue, name, val string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := kv.Create(ctx, bucketKey(name), []byte(val)); err != nil {
		t.Fatal(err)
	}
}
