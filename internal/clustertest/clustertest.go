// Package clustertest joins the nodes of a test to a cluster over NATS
// (see internal/natstest for the server): the connection, the cluster
// transport and the cluster-wide names, closed when the test ends.
package clustertest

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/process"
)

// startTimeout bounds the start of the cluster-wide names.
const startTimeout = time.Minute

// FastOptions are heartbeat settings for tests: a heartbeat every 50 ms,
// a node down after 1 s of silence — quick, with room for a loaded
// machine running -race.
func FastOptions() *cluster.Options {
	return &cluster.Options{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: time.Second}
}

// Member is one node's way into the cluster.
type Member struct {
	Conn      *nats.Conn
	Transport *cluster.Transport
	// Names are the node's cluster-wide names, not started: give them to
	// the node (process.Options.ClusterNames) to use them.
	Names *cluster.Names
}

// Join connects to the NATS at url as the node name and makes its
// transport with opts (nil: FastOptions) and its cluster-wide names. The
// connection reconnects every 20 ms for as long as it takes, so a cut
// network (internal/netcut) heals. Everything closes when the test ends,
// after what is registered later with t.Cleanup (the node's shutdown).
func Join(t testing.TB, url, name string, opts *cluster.Options) *Member {
	t.Helper()
	if opts == nil {
		opts = FastOptions()
	}
	nc, err := nats.Connect(url, nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond),
		nats.IgnoreDiscoveredServers())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cluster.New(nc, opts)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	m := &Member{Conn: nc, Transport: tr, Names: cluster.NewNames(tr)}
	t.Cleanup(m.Close)
	return m
}

// Start starts the transport on the node n and, with names, the
// cluster-wide names (which need JetStream).
func (m *Member) Start(t testing.TB, n *process.Node, names bool) {
	t.Helper()
	if err := m.Transport.Start(n); err != nil {
		t.Fatal(err)
	}
	if !names {
		return
	}
	// Routed servers may not all be JetStream peers yet ("no suitable
	// peers for placement" for a bucket of three copies): tried again, as
	// wsrelay run does.
	deadline := time.Now().Add(startTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Until(deadline))
		err := m.Names.Start(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // a retry interval, not a wait for an event
	}
}

// Close closes the names, the transport (a goodbye to the other nodes)
// and the connection; again, it does nothing.
func (m *Member) Close() {
	m.Names.Close()
	_ = m.Transport.Close()
	m.Conn.Close()
}
