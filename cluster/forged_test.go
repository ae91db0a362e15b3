package cluster_test

import (
	"testing"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// TestRelationSignalsMustComeFromTheirSendersNode: a batch from node a
// whose monitor, link, demonitor, unlink, EXIT or LINK_EXIT names a sender
// on another node (c, or no node, which would look local) is not applied:
// when c is lost, b's processes get no notice "from" c and are not taken
// down by a link c never made; the drops are counted. A message in the
// same batch with a sender on c still arrives.
func TestRelationSignalsMustComeFromTheirSendersNode(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	a, b := startNode(t, s, "a", nil), startNode(t, s, "b", nil)
	waitPeers(t, a, b)

	noticed := proctest.Spawn(t, b.node, host, nil) // gets a forged monitor with notice
	linked := proctest.Spawn(t, b.node, host, nil)  // gets a forged link
	watcher := proctest.Spawn(t, b.node, host, nil)
	watcher.Monitor(linked.PID)
	noNode := watcher.PID
	noNode.Node = ""
	ghost := pid.PID{Node: "c", Host: host, ID: 5}
	lost := process.Result{Err: process.ErrNoConnection}
	forged := []process.Signal{
		{Kind: process.SigMonitor, From: ghost, To: noticed.PID, Topic: "gone", Payload: value.Nil()},
		{Kind: process.SigMonitor, From: noNode, To: noticed.PID, Topic: "gone", Payload: value.Nil()},
		{Kind: process.SigLink, From: ghost, To: linked.PID},
		{Kind: process.SigDemonitor, From: ghost, To: watcher.PID},
		{Kind: process.SigUnlink, From: ghost, To: watcher.PID},
		{Kind: process.SigExit, From: ghost, To: watcher.PID, Result: lost},
		{Kind: process.SigLinkExit, From: ghost, To: watcher.PID, Result: lost},
		{Kind: process.SigMessage, From: ghost, To: noticed.PID, Topic: "kept", Payload: value.Nil()},
	}
	if err := a.nc.Publish(b.tr.NodeSubject("b"), cluster.EncodeBatch("a", a.tr.Incarnation(), forged...)); err != nil {
		t.Fatal(err)
	}
	if m := noticed.Next("kept"); m.From != ghost {
		t.Fatalf("the message came from %v, want %v", m.From, ghost)
	}

	b.node.NodeDown("c") // what b does when it loses c
	noticed.Send(noticed.PID.String(), "marker", value.Nil())
	noticed.Next("marker") // a forged notice would come first
	linked.Exit(nil)
	if r := watcher.Await(linked.PID); r.Err != nil {
		t.Fatalf("the process with a forged link ended with %v, want a normal end", r.Err)
	}
	if got, want := b.tr.Stats().Misattributed, uint64(len(forged)-1); got != want {
		t.Fatalf("Misattributed = %d, want %d", got, want)
	}
}
