package cluster_test

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/process"
)

// TestNoEchoConnection: a node takes itself for cut off when it stops
// hearing its own heartbeats, so a connection made with nats.NoEcho (a
// NATS option a program embedding the cluster may well set) never hears
// them. Such a connection must be refused by cluster.New, naming the
// option; otherwise the node, healthy, must not be cut off: it must sweep
// the name table and run its cluster services.
func TestNoEchoConnection(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	nc, err := nats.Connect(s.ClientURL(), nats.NoEcho())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tr, err := cluster.New(nc, fastOptions())
	if err != nil {
		t.Logf("refused: %v", err)
		return
	}
	n, err := process.NewNode(&process.Options{Name: "a", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(n); err != nil {
		t.Fatal(err)
	}
	names := cluster.NewNames(tr)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := names.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() {
		names.Close()
		_ = n.Shutdown(ctx)
		_ = tr.Close()
	}()
	poll.Until(t, timeout, "a steady node sweeps its names", func() bool { return names.Swept() >= 1 })
	if names.CutOff() {
		t.Fatal("a node with a healthy NoEcho connection takes itself for cut off")
	}
}
