package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/netcut"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// loggedNode is a named node whose log the test reads.
type loggedNode struct {
	*namedNode
	logs *testlog.Buffer
}

// startLoggedNode is startNamedNode with opts (nil: the fast ones) and a
// log the test can read.
func startLoggedNode(t *testing.T, s *server.Server, name string, opts *cluster.Options) *loggedNode {
	t.Helper()
	if opts == nil {
		opts = fastOptions()
	}
	logs, log := testlog.New(slog.LevelInfo)
	opts.Logger = log
	tn, names := joinNode(t, s.ClientURL(), name, opts, nil, true)
	t.Cleanup(func() {
		names.Close()
		tn.stop(t)
		if t.Failed() {
			t.Logf("node %s's log:\n%s", name, logs.String())
		}
	})
	return &loggedNode{namedNode: &namedNode{testNode: tn, names: names}, logs: logs}
}

// expectUnresolved checks that name resolves on none of nodes, through
// the name table and through a send from a process of the node.
func expectUnresolved(t *testing.T, name string, nodes ...*namedNode) {
	t.Helper()
	for _, n := range nodes {
		if p, ok := n.names.LookupName(name); ok {
			t.Fatalf("on %s, %s resolves to %v, a process that cannot be alive", n.name, name, p)
		}
		if p, err := n.node.Resolve(name); err == nil {
			t.Fatalf("on %s, Resolve(%s) = %v, a process that cannot be alive", n.name, name, p)
		}
		if err := n.node.SendDest(pid.PID{Node: n.name, Host: host, ID: 1}, name, "hi", value.Nil()); !errors.Is(err, process.ErrUnknownName) {
			t.Fatalf("on %s, a send to %s: %v, want ErrUnknownName", n.name, name, err)
		}
	}
}

// TestClusterNameOfKilledNode: a node stops without a goodbye. As soon as
// a surviving node sees it down, no name it held resolves there, though
// the bucket still holds the name (the surviving nodes' releases hang).
func TestClusterNameOfKilledNode(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	a, b, c := startNamedNode(t, s, "a"), startNamedNode(t, s, "b"), startNamedNode(t, s, "c")
	waitPeers(t, a.testNode, b.testNode, c.testNode)
	holder := proctest.Spawn(t, a.node, host, nil)
	if err := register(t, a, "room:dev", holder); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*namedNode{b, c} {
		poll.Until(t, timeout, n.name+" resolves the name", func() bool { p, ok := n.names.LookupName("room:dev"); return ok && p == holder.PID })
	}
	b.names.HangBucket()
	c.names.HangBucket()

	a.nc.Close() // no goodbye: its heartbeats stop
	for _, n := range []*namedNode{b, c} {
		poll.Until(t, timeout, n.name+" sees a down", func() bool { return len(n.tr.Peers()) == 1 })
		expectUnresolved(t, "room:dev", n)
		if p, ok := n.names.Holder("room:dev"); !ok || p != holder.PID {
			t.Fatalf("on %s the table holds %v %v; the test wants the release pending", n.name, p, ok)
		}
	}
	if _, err := openBucket(t, s).Get(context.Background(), bucketKey("room:dev")); err != nil {
		t.Fatalf("the bucket no longer holds the name (%v); the test wants the release pending", err)
	}
}

// TestClusterNameOfOldIncarnation: a node dies and a new incarnation of
// it is up again (admitted once the old one was silent for the
// timeout) while the bucket's release of its names is still pending. A
// name its earlier incarnation held resolves nowhere, though the node's
// name is up and the bucket still holds the name.
func TestClusterNameOfOldIncarnation(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	a := startLoggedNode(t, s, "a", fastOptions())
	b1 := startLoggedNode(t, s, "b", fastOptions())
	waitPeers(t, a.testNode, b1.testNode)
	old := proctest.Spawn(t, b1.node, host, nil)
	if err := register(t, b1.namedNode, "room:dev", old); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "a resolves the name", func() bool { p, ok := a.names.LookupName("room:dev"); return ok && p == old.PID })
	a.names.HangBucket()

	b1.nc.Close()                             // no goodbye
	b2 := startNode(t, s, "b", fastOptions()) // without names: it releases nothing
	upAgain := fmt.Sprintf(`msg="cluster: node up" node=b incarnation=%d`, b2.tr.Incarnation())
	poll.Until(t, timeout, "a takes b's new incarnation up", func() bool {
		return strings.Contains(a.logs.String(), upAgain)
	})
	expectUnresolved(t, "room:dev", a.namedNode)
	if p, ok := a.names.Holder("room:dev"); !ok || p != old.PID {
		t.Fatalf("the table holds %v %v; the test wants the release pending", p, ok)
	}
	// A process of the new incarnation is resolved.
	fresh := proctest.Spawn(t, b2.node, host, nil)
	putName(t, openBucket(t, s), "room:new", fresh.PID.String())
	poll.Until(t, timeout, "a resolves the new incarnation's name", func() bool {
		p, ok := a.names.LookupName("room:new")
		return ok && p == fresh.PID
	})
}

// TestClusterNamesBucketLost: the names bucket is lost under live nodes,
// by a NATS restart with an empty store, by its stream being deleted, or
// purged. Every node rebuilds its table (after a purge, every node it
// left wrong); each name a live process held is registered again, one
// winner per name (here another node's process registers one of them in
// the new bucket too), and every node resolves each name to its winner;
// the loser resolves nowhere, and its node says it lost the name.
func TestClusterNamesBucketLost(t *testing.T) {
	t.Parallel()
	t.Run("restart", func(t *testing.T) {
		testNamesBucketLost(t, true, func(t *testing.T, s *server.Server) {
			natstest.RestartEmpty(t, s)
		})
	})
	t.Run("deleted", func(t *testing.T) {
		testNamesBucketLost(t, true, func(t *testing.T, s *server.Server) {
			natstest.DeleteBucket(t, s, cluster.DefaultCluster+"_names")
		})
	})
	t.Run("purged", func(t *testing.T) {
		testNamesBucketLost(t, false, func(t *testing.T, s *server.Server) {
			natstest.PurgeBucket(t, s, cluster.DefaultCluster+"_names")
		})
	})
}

// testNamesBucketLost loses the bucket with lose. With rebuilt, every
// node must rebuild its table; a purge leaves a stream whose new
// registrations may reach a node before it notices, and a node whose
// table they made right again need not.
func testNamesBucketLost(t *testing.T, rebuilt bool, lose func(*testing.T, *server.Server)) {
	t.Parallel()
	s := startJetStream(t)
	a, b, c := startLoggedNode(t, s, "a", nil), startLoggedNode(t, s, "b", nil), startLoggedNode(t, s, "c", nil)
	nodes := []*loggedNode{a, b, c}
	waitPeers(t, a.testNode, b.testNode, c.testNode)
	pa := proctest.Spawn(t, a.node, host, nil)
	pb := proctest.Spawn(t, b.node, host, nil)
	rival := proctest.Spawn(t, c.node, host, nil)
	for _, r := range []struct {
		n    *loggedNode
		name string
		p    *proctest.Probe
	}{{a, "alpha", pa}, {b, "beta", pb}, {a, "contested", pa}} {
		if err := register(t, r.n.namedNode, r.name, r.p); err != nil {
			t.Fatal(err)
		}
	}
	pa.Register("contested") // on its node too, as a Lua CONSISTENT name is
	for _, n := range nodes {
		poll.Until(t, timeout, n.name+" resolves the names", func() bool {
			x, _ := n.names.LookupName("alpha")
			y, _ := n.names.LookupName("beta")
			z, _ := n.names.LookupName("contested")
			return x == pa.PID && y == pb.PID && z == pa.PID
		})
	}

	lose(t, s)
	// Another node's process registers "contested" in the new bucket: it
	// wins or loses against pa's registration again, whichever comes
	// first (the bucket may not exist yet: it tries again).
	var rivalErr error
	poll.Until(t, timeout, "the rival's registration is answered", func() bool {
		rivalErr = register(t, c.namedNode, "contested", rival)
		return rivalErr == nil || errors.Is(rivalErr, process.ErrNameTaken)
	})
	winner, loser := rival.PID, pa.PID
	if rivalErr != nil {
		winner, loser = pa.PID, rival.PID
	}
	for _, n := range nodes {
		poll.Until(t, timeout, n.name+" rebuilds and resolves every name to its live holder", func() bool {
			x, _ := n.names.LookupName("alpha")
			y, _ := n.names.LookupName("beta")
			z, _ := n.names.LookupName("contested")
			return (n.names.Rebuilds() > 0 || !rebuilt) && x == pa.PID && y == pb.PID && z == winner
		})
	}
	kv := openBucket(t, s)
	poll.Until(t, timeout, "the new bucket holds every name", func() bool {
		for name, want := range map[string]pid.PID{"alpha": pa.PID, "beta": pb.PID, "contested": winner} {
			e, err := kv.Get(context.Background(), bucketKey(name))
			if err != nil || string(e.Value()) != want.String() {
				return false
			}
		}
		return true
	})
	if winner == rival.PID {
		poll.Until(t, timeout, "a logs that pa lost its name", func() bool {
			return strings.Contains(a.logs.String(), "lost its name")
		})
		if p, ok := a.node.Lookup("contested"); ok && p == loser {
			t.Fatalf("a's own registry still names the loser %v", p)
		}
	}
	for _, n := range nodes {
		if p, err := n.node.Resolve("contested"); err != nil || p != winner {
			t.Fatalf("on %s contested resolves to %v (%v), want the winner %v", n.name, p, err, winner)
		}
	}
	// A name released now is released in the new bucket.
	pb.Exit(nil)
	for _, n := range nodes {
		poll.Until(t, timeout, n.name+" sees beta released", func() bool { _, ok := n.names.Holder("beta"); return !ok })
	}
}

// TestClusterNameAfterNodeAndNATSRestart: the node that holds a name is
// killed together with the NATS server (as when it embeds it), and both
// come back: NATS with an empty store, the node as a new incarnation. The
// surviving node resolves the name to nothing (its holder's incarnation
// is gone, and so is the bucket it was in), and a process of either node
// can register it anew.
func TestClusterNameAfterNodeAndNATSRestart(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	port := s.Addr().(*net.TCPAddr).Port
	a, b := startNamedNode(t, s, "a"), startNamedNode(t, s, "b")
	waitPeers(t, a.testNode, b.testNode)
	room := proctest.Spawn(t, a.node, host, nil)
	if err := register(t, a, "chat.room:dev", room); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "b resolves the room", func() bool { p, ok := b.names.LookupName("chat.room:dev"); return ok && p == room.PID })

	a.nc.Close()
	s.Shutdown()
	s.WaitForShutdown()
	s2 := natstest.StartOnPort(t, port, true)
	a2 := startNamedNode(t, s2, "a")
	waitPeers(t, a2.testNode, b.testNode)
	poll.Until(t, timeout, "b rebuilds its table", func() bool { return b.names.Rebuilds() > 0 })
	// b takes a's first incarnation for lost once it is silent for the
	// heartbeat timeout (until then it may be alive, as far as b knows);
	// from then on, the room's name resolves nowhere.
	poll.Until(t, timeout, "b no longer resolves the lost room", func() bool {
		_, ok := b.names.LookupName("chat.room:dev")
		return !ok
	})
	expectUnresolved(t, "chat.room:dev", b, a2)
	fresh := proctest.Spawn(t, b.node, host, nil)
	poll.Until(t, timeout, "b registers the room anew", func() bool { return register(t, b, "chat.room:dev", fresh) == nil })
	poll.Until(t, timeout, "a's new incarnation resolves the new room", func() bool {
		p, ok := a2.names.LookupName("chat.room:dev")
		return ok && p == fresh.PID
	})
}

// TestClusterNameOfRestartWithinTimeout: a node dies and starts again
// before the others take its first incarnation for lost; the new
// incarnation registers a name at once. When the others then take the
// first incarnation for lost, they release its names only: the new
// incarnation's name stays registered and resolves.
func TestClusterNameOfRestartWithinTimeout(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	slow := func() *cluster.Options { // long enough for the restart to register first
		return &cluster.Options{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 5 * time.Second}
	}
	a := startLoggedNode(t, s, "a", slow())
	b1 := startLoggedNode(t, s, "b", slow())
	waitPeers(t, a.testNode, b1.testNode)
	old := proctest.Spawn(t, b1.node, host, nil)
	if err := register(t, b1.namedNode, "room:old", old); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "a resolves the old room", func() bool { p, ok := a.names.LookupName("room:old"); return ok && p == old.PID })

	b1.nc.Close() // killed: no goodbye
	b2 := startLoggedNode(t, s, "b", slow())
	fresh := proctest.Spawn(t, b2.node, host, nil)
	if err := register(t, b2.namedNode, "room:new", fresh); err != nil {
		t.Fatal(err)
	}
	upAgain := fmt.Sprintf(`msg="cluster: node up" node=b incarnation=%d`, b2.tr.Incarnation())
	poll.Until(t, 4*timeout, "a takes b's new incarnation up", func() bool { return strings.Contains(a.logs.String(), upAgain) })
	poll.Until(t, timeout, "a resolves the new room", func() bool { p, ok := a.names.LookupName("room:new"); return ok && p == fresh.PID })
	expectUnresolved(t, "room:old", a.namedNode, b2.namedNode)
	// Registered still: another process cannot take it.
	other := proctest.Spawn(t, a.node, host, nil)
	if err := register(t, a.namedNode, "room:new", other); !errors.Is(err, process.ErrNameTaken) {
		t.Fatalf("a registered the new incarnation's name for itself: %v", err)
	}
}

// TestClusterNameSurvivesHoldersCut: a node is cut off from NATS for
// longer than the heartbeat timeout and comes back without restarting.
// The others took it for lost and released its names, but its process
// lives on and still holds its name: the node registers it again, so
// the name resolves to it on every node and nobody else can take it.
func TestClusterNameSurvivesHoldersCut(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	px := netcut.Start(t, s.Addr().String())
	a := startNamedNode(t, s, "a")
	b := startNamedNodeAt(t, "nats://"+px.Addr(), "b")
	waitPeers(t, a.testNode, b.testNode)
	holder := proctest.Spawn(t, b.node, host, nil)
	if err := register(t, b, "hall", holder); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "a resolves the name", func() bool { p, ok := a.names.LookupName("hall"); return ok && p == holder.PID })

	px.SetCut(true)
	kv := openBucket(t, s)
	poll.Until(t, 4*timeout, "a releases the names of b, lost", func() bool {
		_, err := kv.Get(context.Background(), bucketKey("hall"))
		return errors.Is(err, jetstream.ErrKeyNotFound)
	})
	px.SetCut(false)
	waitPeers(t, a.testNode, b.testNode)
	poll.Until(t, 4*timeout, "the name resolves to its live holder on both nodes again", func() bool {
		pa, oka := a.names.LookupName("hall")
		pb, okb := b.names.LookupName("hall")
		return oka && okb && pa == holder.PID && pb == holder.PID
	})
	other := proctest.Spawn(t, a.node, host, nil)
	if err := register(t, a, "hall", other); !errors.Is(err, process.ErrNameTaken) {
		t.Fatalf("a registered the name of b's live process for itself: %v", err)
	}
}

// TestClusterNameCarriedHolderEnds: after the bucket was lost, the other
// nodes carry a name of a live process over while its node registers it
// again. If the process ends first, its node tells them: the name is
// released on every node at once, not when the carried copy would run
// out (an hour here).
func TestClusterNameCarriedHolderEnds(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	a, b := startLoggedNode(t, s, "a", nil), startLoggedNode(t, s, "b", nil)
	waitPeers(t, a.testNode, b.testNode)
	pb := proctest.Spawn(t, b.node, host, nil)
	pb.Exit(nil)
	poll.Until(t, timeout, "b sees its process ended", func() bool { return !b.node.Alive(pb.PID) })

	a.names.CarryOver("ghost", pb.PID)
	if p, ok := a.names.LookupName("ghost"); !ok || p != pb.PID {
		t.Fatalf("a carries ghost for %v (%v), want %v while b is up", p, ok, pb.PID)
	}
	b.names.CarryOver("ghost", pb.PID)
	for _, n := range []*loggedNode{a, b} {
		poll.Until(t, timeout, n.name+" sees ghost released", func() bool {
			_, ok := n.names.Holder("ghost")
			return !ok
		})
	}
	kv := openBucket(t, s)
	if e, err := kv.Get(context.Background(), bucketKey("ghost")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("the bucket holds ghost: %v, %v", e, err)
	}
}
