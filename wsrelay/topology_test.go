package wsrelay_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/process"
)

// topology says where a test's targets live: on the relay's node, or on
// another node of a cluster, reached over NATS (an embedded server). The
// relay's scenarios run in both, so what holds on one node is shown to
// hold across nodes too.
type topology struct {
	name   string
	remote bool
}

var topologies = []topology{{name: "local"}, {name: "remote", remote: true}}

// eachTopology runs f as one subtest per topology.
func eachTopology(t *testing.T, f func(t *testing.T, topo topology)) {
	for _, topo := range topologies {
		t.Run(topo.name, func(t *testing.T) { f(t, topo) })
	}
}

// clusterNodes makes the relay's node n1 and the targets' node n2, both
// joined to a NATS server in the test process, and waits until each sees
// the other. Everything stops when the test ends, after what the caller
// registers later (the relay, the nodes' shutdown). cut closes n2's NATS
// connection, without a goodbye: n1 loses n2 once its heartbeats stop.
func clusterNodes(t testing.TB, log *slog.Logger) (n1, n2 *process.Node, cut func()) {
	t.Helper()
	s := natstest.Start(t, false)
	var trs []*cluster.Transport
	var conns []*nats.Conn
	nodes := make([]*process.Node, 2)
	for i, name := range []string{"n1", "n2"} {
		// The default heartbeat timeout rather than the fast one: these
		// tests are of the relay, and on a loaded machine a node silent
		// for a second is taken for lost, closing its clients.
		opts := &cluster.Options{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: cluster.DefaultHeartbeatTimeout}
		opts.Logger = log
		m := clustertest.Join(t, s.ClientURL(), name, opts)
		n, err := process.NewNode(&process.Options{Name: name, Logger: log, Transport: m.Transport})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.AddHost(host, &process.HostOptions{CancelGrace: time.Second}); err != nil {
			t.Fatal(err)
		}
		m.Start(t, n, false)
		trs = append(trs, m.Transport)
		conns = append(conns, m.Conn)
		nodes[i] = n
	}
	t.Cleanup(func() { // before the transports close: n2's targets still hear n1's leaves
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := nodes[1].Shutdown(ctx); err != nil {
			t.Errorf("node n2 shutdown: %v", err)
		}
	})
	poll.Until(t, timeout, "the two nodes to see each other", func() bool {
		return len(trs[0].Peers()) == 1 && len(trs[1].Peers()) == 1
	})
	return nodes[0], nodes[1], conns[1].Close
}
