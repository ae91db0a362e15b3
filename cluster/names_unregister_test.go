package cluster_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/process"
)

// TestClusterNameUnregisterBy: only the holder releases a cluster name;
// anyone else is told who holds it; after the release the holder's node
// no longer resolves the name at once, the other node soon after, and the
// name can be taken again; a name nobody holds is unknown.
func TestClusterNameUnregisterBy(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	a, b := startNamedNode(t, s, "a"), startNamedNode(t, s, "b")
	waitPeers(t, a.testNode, b.testNode)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	holder, other := proctest.Spawn(t, a.node, host, nil), proctest.Spawn(t, a.node, host, nil)
	if err := register(t, a, "desk", holder); err != nil {
		t.Fatal(err)
	}
	err := a.names.UnregisterBy(ctx, other.PID, "desk")
	var held *process.NameHeldError
	if !errors.As(err, &held) || held.Holder != holder.PID || !strings.Contains(err.Error(), holder.PID.String()) {
		t.Fatalf("another process unregistering: %v; want a NameHeldError naming %v", err, holder.PID)
	}
	if err := a.names.UnregisterBy(ctx, holder.PID, "desk"); err != nil {
		t.Fatalf("the holder unregistering: %v", err)
	}
	if p, ok := a.names.LookupName("desk"); ok {
		t.Errorf("right after the release, a still resolves the name to %v", p)
	}
	poll.Until(t, timeout, "b sees the name released", func() bool { _, ok := b.names.LookupName("desk"); return !ok })
	pb := proctest.Spawn(t, b.node, host, nil)
	if err := register(t, b, "desk", pb); err != nil {
		t.Fatalf("taking the released name on b: %v", err)
	}
	poll.Until(t, timeout, "a sees the new holder", func() bool { p, _ := a.names.LookupName("desk"); return p == pb.PID })
	if err := a.names.UnregisterBy(ctx, holder.PID, "nobody"); !errors.Is(err, process.ErrUnknownName) {
		t.Errorf("unregistering a name nobody holds: %v; want ErrUnknownName", err)
	}
}
