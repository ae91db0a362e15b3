package gateway_test

import (
	"net"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
)

// TestClusterServiceBucketLost: the names bucket, which holds the claim
// of a cluster service and its instance's name, is lost under three live
// nodes: NATS restarts with an empty store, or the bucket's stream is
// deleted. Every node rebuilds its table, and afterwards exactly one
// instance runs, its name resolves to it on every node, a node that joins
// then stands by, and no other instance starts while each node checks the
// bucket a dozen times more (past a standby's recheck and the time a lost
// name is carried over). At no sampled moment do two run.
func TestClusterServiceBucketLost(t *testing.T) {
	t.Run("restart", func(t *testing.T) {
		testServiceBucketLost(t, false, func(t *testing.T, s *server.Server) {
			natstest.RestartEmpty(t, s)
		})
	})
	t.Run("deleted", func(t *testing.T) {
		testServiceBucketLost(t, false, func(t *testing.T, s *server.Server) {
			natstest.DeleteBucket(t, s, cluster.DefaultCluster+"_names")
		})
	})
}

// TestClusterServiceLostWithBucket: the node that runs the instance is
// killed, and NATS restarts with an empty store: the claim and the
// instance are lost together. The surviving nodes start it again, exactly
// once.
func TestClusterServiceLostWithBucket(t *testing.T) {
	testServiceBucketLost(t, true, func(t *testing.T, s *server.Server) {
		port := s.Addr().(*net.TCPAddr).Port
		s.Shutdown()
		s.WaitForShutdown()
		natstest.StartOnPort(t, port, true)
	})
}

// testServiceBucketLost loses the bucket with lose (after killing the
// node that runs the instance, with kill) and checks what follows.
func testServiceBucketLost(t *testing.T, kill bool, lose func(*testing.T, *server.Server)) {
	s := natstest.StartJetStream(t)
	nodes := startClusterApps(t, s, hbTimeout, "a", "b", "c")
	smp := sample(nodes)
	first := oneInstance(t, nodes, "one instance runs")
	expectResolves(t, nodes, first)

	if kill {
		var victim *clusterApp
		victim, nodes = others(nodes, first.Node)
		victim.kill(t)
	}
	lose(t, s)
	poll.Until(t, timeout, "every node rebuilds its table", func() bool {
		for _, n := range nodes {
			if n.names.Rebuilds() == 0 {
				return false
			}
		}
		return true
	})
	one := oneInstance(t, nodes, "one instance runs after the loss")
	expectResolves(t, nodes, one)
	// A node that joins now finds the service claimed in the new bucket.
	d := startClusterApp(t, s.ClientURL(), "d", hbTimeout)
	nodes = append(nodes, d)
	poll.Until(t, timeout, "the new node sees the others", func() bool { return len(d.tr.Peers()) == len(nodes)-1 })
	expectResolves(t, nodes, one)

	started := 0
	checks := map[string]uint64{}
	for _, n := range nodes {
		started += n.started()
		checks[n.name] = n.names.Checks()
	}
	poll.Until(t, 3*timeout, "every node checks the bucket a dozen times more", func() bool {
		for _, n := range nodes {
			if n.names.Checks() < checks[n.name]+12 {
				return false
			}
		}
		return true
	})
	again := 0
	for _, n := range nodes {
		again += n.started()
	}
	if live := instances(nodes); again != started || len(live) != 1 || live[0] != one {
		t.Fatalf("instances now %v, %d started in all (%d before); want only %v and no start since", live, again, started, one)
	}
	expectResolves(t, nodes, one)
	if n := d.started(); n != 0 {
		t.Fatalf("the node that joined after the loss started %d instances", n)
	}
	if most, samples := smp.end(); most > 1 {
		t.Fatalf("%d instances at once over %d samples", most, samples)
	}
	t.Logf("first instance %v, after the loss %v", first, one)
}
