package cluster_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/natstest"
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
