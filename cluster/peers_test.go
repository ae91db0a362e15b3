package cluster_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// fakeHeartbeat is a heartbeat of a node named name (see membership.go).
func fakeHeartbeat(name string, inc uint64) []byte {
	b := []byte{2}
	b = binary.LittleEndian.AppendUint64(b, inc)
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(len(name)))
	return append(b, name...)
}

// TestPeerTableForgetsDownNodes: nodes whose names change at each start
// (a thousand and more over a cluster's life) must not fill the peer table
// for good: once they are down, a new node is still admitted.
func TestPeerTableForgetsDownNodes(t *testing.T) {
	s := startNATS(t)
	a := startNode(t, s, "a", nil)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for i := range 1100 { // more than the table holds
		if err := nc.Publish("wsrelay.hb", fakeHeartbeat(fmt.Sprintf("gone-%d", i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// They fall silent and are down within the timeout (1s); a node that
	// starts now must be admitted all the same.
	b := startNode(t, s, "b", nil)
	waitPeers(t, a, b)
}

// TestRivalIncarnationWaits: a second incarnation of a node name that is
// up (the old one still runs beside it: two nodes under one name) is not
// admitted while the old one keeps its heartbeats: the old one's
// processes stay reachable, and what the new one sends is dropped. Once
// the old one is lost, its watchers hear noconnection, the new one is
// admitted, and it is told to reset (its earlier monitor was dropped:
// its watcher hears noconnection rather than waiting for good).
func TestRivalIncarnationWaits(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	a, b1 := startNode(t, s, "a", nil), startNode(t, s, "b", nil)
	waitPeers(t, a, b1)
	target := proctest.Spawn(t, a.node, host, nil)
	old := proctest.Spawn(t, b1.node, host, nil)
	target.Monitor(old.PID)
	old.Send(target.PID.String(), "sync", value.Nil())
	target.Next("sync")

	b2 := startNode(t, s, "b", nil) // b1 keeps running
	waitPeers(t, b2, a)             // b2 sees a; a keeps b1
	stale := a.tr.Stats().Stale
	fresh := proctest.Spawn(t, b2.node, host, nil)
	fresh.Monitor(target.PID) // dropped by a: b1 is the b it sees up
	poll.Until(t, timeout, "a drops b2's batch", func() bool { return a.tr.Stats().Stale > stale })
	target.Send(old.PID.String(), "still here", value.Nil())
	if m := old.Next("still here"); m.From != target.PID {
		t.Fatalf("b1's process got %+v", m)
	}

	b1.nc.Close() // b1 is lost, without a goodbye
	if ev := target.Event(); ev.Kind != process.EventExit || ev.From != old.PID || !errors.Is(ev.Result.Err, process.ErrNoConnection) {
		t.Fatalf("event %+v, want EXIT noconnection from b1's process", ev)
	}
	if ev := fresh.Event(); ev.Kind != process.EventExit || ev.From != target.PID || !errors.Is(ev.Result.Err, process.ErrNoConnection) {
		t.Fatalf("b2's monitor, dropped by a: event %+v, want EXIT noconnection (the reset)", ev)
	}
	fresh.Send(target.PID.String(), "from b2", value.Nil())
	if m := target.Next("from b2"); m.From != fresh.PID {
		t.Fatalf("target got %+v", m)
	}
}
