package cluster_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
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

// TestOldIncarnationIgnored: an earlier incarnation of a node that still
// runs beside the new one (it was not stopped) is lost for the other
// nodes: a monitor it makes afterwards is not recorded, so its notice does
// not fire, as a second one, when the new incarnation is lost.
func TestOldIncarnationIgnored(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	slow := &cluster.Options{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: time.Hour}
	a, b1 := startNode(t, s, "a", slow), startNode(t, s, "b", slow)
	waitPeers(t, a, b1)
	target := proctest.Spawn(t, a.node, host, nil)
	marker := proctest.Spawn(t, a.node, host, nil)
	old := proctest.Spawn(t, b1.node, host, nil)
	target.Monitor(old.PID)
	old.Send(target.PID.String(), "sync", value.Nil())
	target.Next("sync")

	b2 := startNode(t, s, "b", slow) // b1 keeps running
	if ev := target.Event(); ev.Kind != process.EventExit || !errors.Is(ev.Result.Err, process.ErrNoConnection) {
		t.Fatalf("event %+v, want EXIT noconnection: a took b2 for b1", ev)
	}
	in := a.tr.Stats().BatchesIn
	zombie := proctest.Spawn(t, b1.node, host, nil)
	var err error
	zombie.Run(func(p *process.Process) { err = p.MonitorNotice(target.PID, "bye", value.Nil()) })
	if err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "a receives b1's batch", func() bool { return a.tr.Stats().BatchesIn > in })
	waitPeers(t, a, b2) // b2 sends to a below: it must have heard a first
	fresh := proctest.Spawn(t, b2.node, host, nil)
	target.Monitor(fresh.PID)
	fresh.Send(target.PID.String(), "sync", value.Nil()) // after b1's batch: a has handled it
	target.Next("sync")

	_ = b2.tr.Close() // b is lost again
	if leaves := leavesAfterLossTopic(t, target, marker, "bye"); len(leaves) != 0 {
		t.Fatalf("after b2 was lost the target got %d notice(s) from b1's process, which was lost already", len(leaves))
	}
}
