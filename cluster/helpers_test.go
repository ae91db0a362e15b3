package cluster_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const (
	host    = "app:processes"
	timeout = 30 * time.Second
)

// startNATS runs a NATS server in the test process on a random loopback
// port.
func startNATS(t testing.TB) *server.Server {
	t.Helper()
	return natstest.Start(t, false)
}

// testNode is one node of a test cluster.
type testNode struct {
	name string
	node *process.Node
	tr   *cluster.Transport
	nc   *nats.Conn
}

// fastOptions are heartbeat settings for tests: quick, with room for a
// loaded machine running -race.
func fastOptions() *cluster.Options { return clustertest.FastOptions() }

// startNode joins a node named name to the cluster on s; it leaves when
// the test ends.
func startNode(t testing.TB, s *server.Server, name string, opts *cluster.Options) *testNode {
	t.Helper()
	return startNodeAt(t, s.ClientURL(), name, opts)
}

// startNodeAt is startNode through the NATS at url (a proxy, say).
func startNodeAt(t testing.TB, url, name string, opts *cluster.Options) *testNode {
	t.Helper()
	tn, _ := joinNode(t, url, name, opts, &process.HostOptions{MailboxSize: 1 << 18}, false)
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

// joinNode makes a node named name with host on hostOpts, joined to the
// cluster through the NATS at url (with names: its cluster-wide names
// started and given to the node). The caller registers the node's stop.
func joinNode(t testing.TB, url, name string, opts *cluster.Options, hostOpts *process.HostOptions, names bool) (*testNode, *cluster.Names) {
	t.Helper()
	m := clustertest.Join(t, url, name, opts)
	popts := &process.Options{Name: name, Transport: m.Transport}
	if names {
		popts.ClusterNames = m.Names
	}
	n, err := process.NewNode(popts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddHost(host, hostOpts); err != nil {
		t.Fatal(err)
	}
	m.Start(t, n, names)
	return &testNode{name: name, node: n, tr: m.Transport, nc: m.Conn}, m.Names
}

// stop shuts the node down and leaves the cluster (again: a no-op).
func (tn *testNode) stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tn.node.Shutdown(ctx); err != nil {
		t.Errorf("node %s: %v", tn.name, err)
	}
	_ = tn.tr.Close()
	tn.nc.Close()
}

// cluster3 starts three nodes and waits until each sees the other two.
func cluster3(t testing.TB) (a, b, c *testNode) {
	t.Helper()
	s := startNATS(t)
	a, b, c = startNode(t, s, "a", nil), startNode(t, s, "b", nil), startNode(t, s, "c", nil)
	waitPeers(t, a, b, c)
	return a, b, c
}

// waitPeers waits until each node sees every other one up.
func waitPeers(t testing.TB, nodes ...*testNode) {
	t.Helper()
	poll.Until(t, timeout, "every node sees the others", func() bool {
		for _, n := range nodes {
			peers := n.tr.Peers()
			sort.Strings(peers)
			want := 0
			for _, o := range nodes {
				if o != n && sort.SearchStrings(peers, o.name) < len(peers) && peers[sort.SearchStrings(peers, o.name)] == o.name {
					want++
				}
			}
			if want != len(nodes)-1 {
				return false
			}
		}
		return true
	})
}

// expectDelivered checks that a new process on from reaches a new process
// on to: the two nodes carry messages between them again.
func expectDelivered(t *testing.T, from, to *testNode, topic string) {
	t.Helper()
	fresh := proctest.Spawn(t, to.node, host, nil)
	sender := proctest.Spawn(t, from.node, host, nil)
	sender.Send(fresh.PID.String(), topic, value.Nil())
	if m := fresh.Next(topic); m.From != sender.PID {
		t.Fatalf("%s got %v, want %s from %v", fresh.PID, m, topic, sender.PID)
	}
}
