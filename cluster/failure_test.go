package cluster_test

import (
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/netcut"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// watchers sets up, on node w, one probe monitoring target and one linked
// to it that traps links, and makes sure both relations reached target's
// node (signals from one sender arrive in order).
func watchers(t *testing.T, w *testNode, target *proctest.Probe) (mon, trap *proctest.Probe) {
	t.Helper()
	mon = proctest.Spawn(t, w.node, host, nil)
	mon.Monitor(target.PID)
	mon.Send(target.PID.String(), "sync", value.Nil())
	target.Next("sync")
	trap = proctest.Spawn(t, w.node, host, nil)
	var err error
	trap.Run(func(p *process.Process) {
		p.SetTrapLinks(true)
		err = p.Link(target.PID)
	})
	if err != nil {
		t.Fatal(err)
	}
	trap.Send(target.PID.String(), "sync", value.Nil())
	target.Next("sync")
	return mon, trap
}

// expectNoConnection waits for mon's EXIT and trap's LINK_DOWN for target,
// both with noconnection, and returns how long the last one took from since.
func expectNoConnection(t *testing.T, mon, trap *proctest.Probe, target pid.PID, since time.Time) time.Duration {
	t.Helper()
	if e := mon.Event(); e.Kind != process.EventExit || e.From != target || !errors.Is(e.Result.Err, process.ErrNoConnection) || e.Result.Err.Error() != "noconnection" {
		t.Fatalf("monitor of a lost node's process: %v from %v: %v", e.Kind, e.From, e.Result.Err)
	}
	if e := trap.Event(); e.Kind != process.EventLinkDown || e.From != target || !errors.Is(e.Result.Err, process.ErrNoConnection) {
		t.Fatalf("link to a lost node's process: %v from %v: %v", e.Kind, e.From, e.Result.Err)
	}
	return time.Since(since)
}

// TestNodeStoppedAbruptly: a node whose NATS connection closes without a
// goodbye is down once its heartbeats stop: watchers of its processes get
// noconnection, and sends to it fail.
func TestNodeStoppedAbruptly(t *testing.T) {
	t.Parallel()
	a, b, _ := cluster3(t)
	target := proctest.Spawn(t, b.node, host, nil)
	mon, trap := watchers(t, a, target)

	lost := time.Now()
	b.nc.Close() // no goodbye: only the missing heartbeats tell
	took := expectNoConnection(t, mon, trap, target.PID, lost)
	t.Logf("node loss noticed after %v (heartbeat timeout %v)", took, fastOptions().HeartbeatTimeout)

	var err error
	mon.Run(func(p *process.Process) { err = p.Send(target.PID, "x", value.Nil()) })
	if !errors.Is(err, cluster.ErrNodeDown) {
		t.Fatalf("send to a lost node: %v", err)
	}
	mon.Run(func(p *process.Process) { err = p.Monitor(target.PID) })
	if !errors.Is(err, cluster.ErrNodeDown) {
		t.Fatalf("monitor of a lost node's process: %v", err)
	}
}

// TestNodeLeaving: a node that closes its transport says goodbye, and the
// others take it down without waiting for the timeout.
func TestNodeLeaving(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	slow := &cluster.Options{HeartbeatInterval: time.Second, HeartbeatTimeout: time.Hour}
	a, b := startNode(t, s, "a", slow), startNode(t, s, "b", slow)
	waitPeers(t, a, b)
	target := proctest.Spawn(t, b.node, host, nil)
	mon, trap := watchers(t, a, target)
	if err := b.tr.Close(); err != nil {
		t.Fatal(err)
	}
	expectNoConnection(t, mon, trap, target.PID, time.Now())
}

// TestConnectionCutBothSides: a node cut off from NATS is down for the
// others, and they are down for it: watchers on both sides hear
// noconnection. Once the network heals the nodes see each other again,
// both having forgotten the relations of before, and work as before.
func TestConnectionCutBothSides(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	px := netcut.Start(t, s.Addr().String())
	a := startNode(t, s, "a", nil)
	b := startNodeAt(t, "nats://"+px.Addr(), "b", nil)
	waitPeers(t, a, b)

	onB := proctest.Spawn(t, b.node, host, nil)
	onA := proctest.Spawn(t, a.node, host, nil)
	monA, trapA := watchers(t, a, onB)
	monB, trapB := watchers(t, b, onA)

	cut := time.Now()
	px.SetCut(true)
	tookA := expectNoConnection(t, monA, trapA, onB.PID, cut)
	tookB := expectNoConnection(t, monB, trapB, onA.PID, cut)
	t.Logf("cut noticed after %v on the connected side, %v on the cut side", tookA, tookB)

	px.SetCut(false)
	waitPeers(t, a, b)
	// onB was linked to trapA and does not trap links: losing a ended it.
	poll.Until(t, timeout, "onB, linked to a process of the lost node, ended", func() bool { return !b.node.Alive(onB.PID) })
	// After the reset both sides start from nothing; new relations work.
	fresh := proctest.Spawn(t, b.node, host, nil)
	again := proctest.Spawn(t, a.node, host, nil)
	again.Monitor(fresh.PID)
	again.Send(fresh.PID.String(), "after", value.Nil())
	fresh.Next("after")
	fresh.Exit(nil)
	if r := again.Await(fresh.PID); r.Err != nil {
		t.Fatalf("after healing, a normal end reads %v", r.Err)
	}
}

// TestRestartIsNewIncarnation: a node restarted under the same name
// before the others took its old incarnation for lost is admitted once
// they do (the old one's watchers hear noconnection first), and what is
// sent to the old incarnation's PIDs reaches none of the new one's
// processes.
func TestRestartIsNewIncarnation(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	a, b1 := startNode(t, s, "a", nil), startNode(t, s, "b", nil)
	waitPeers(t, a, b1)
	old := proctest.Spawn(t, b1.node, host, nil)
	mon, trap := watchers(t, a, old)

	b1.nc.Close() // gone without a goodbye
	b2 := startNode(t, s, "b", nil)
	expectNoConnection(t, mon, trap, old.PID, time.Now())
	waitPeers(t, a, b2)

	fresh := proctest.Spawn(t, b2.node, host, nil)
	if fresh.PID.ID <= old.PID.ID {
		t.Fatalf("new incarnation's PID %v is not beyond the old %v", fresh.PID, old.PID)
	}
	dead := b2.node.Stats().DeadLetters
	sender := proctest.Spawn(t, a.node, host, nil)
	sender.Send(old.PID.String(), "for the old one", value.Nil())
	sender.Send(fresh.PID.String(), "for the new one", value.Nil())
	if m := fresh.Next("for the new one"); m.From != sender.PID {
		t.Fatalf("fresh got %v", m)
	}
	if got := b2.node.Stats().DeadLetters; got != dead+1 {
		t.Fatalf("the message to the old incarnation's PID: dead letters %d → %d, want one more", dead, got)
	}
	// A monitor of the old PID is answered noproc by the new incarnation.
	w := proctest.Spawn(t, a.node, host, nil)
	w.Monitor(old.PID)
	if r := w.Await(old.PID); !errors.Is(r.Err, process.ErrNoProc) {
		t.Fatalf("monitor of the old incarnation's PID: %v", r.Err)
	}
}

// TestTwoNodesOneName: a second node started under a name already in use
// is reported, on both of them.
func TestTwoNodesOneName(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	logs1, log1 := testlog.New(slog.LevelError)
	logs2, log2 := testlog.New(slog.LevelError)
	o1, o2 := fastOptions(), fastOptions()
	o1.Logger, o2.Logger = log1, log2
	startNode(t, s, "same", o1)
	startNode(t, s, "same", o2)
	poll.Until(t, timeout, "both nodes report the clash", func() bool {
		return strings.Contains(logs1.String(), "another node runs under this node's name") &&
			strings.Contains(logs2.String(), "another node runs under this node's name")
	})
}

// TestNATSRestart: the NATS server goes away and comes back on the same
// address. The nodes reconnect by themselves and work as before; what was
// in flight, and the relations of before (if the outage outlasted the
// heartbeat timeout), are lost.
func TestNATSRestart(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	port := s.Addr().(*net.TCPAddr).Port
	a, b := startNode(t, s, "a", nil), startNode(t, s, "b", nil)
	waitPeers(t, a, b)
	onB := proctest.Spawn(t, b.node, host, nil)
	mon, trap := watchers(t, a, onB)

	s.Shutdown()
	s.WaitForShutdown()
	// Down for longer than the heartbeat timeout: each side loses the other.
	expectNoConnection(t, mon, trap, onB.PID, time.Now())

	natstest.StartOnPort(t, port, false)
	waitPeers(t, a, b)
	expectDelivered(t, a, b, "after the restart")
}

// TestMonitorNotice: a process that monitors a process on another node
// with a notice gets it delivered there, from itself, when its node is
// lost — unless it sent the notice's topic itself, stopped monitoring,
// or replaced the notice (the last one counts).
func TestMonitorNotice(t *testing.T) {
	t.Parallel()
	a, b, _ := cluster3(t)
	target := proctest.Spawn(t, b.node, host, nil)
	marker := proctest.Spawn(t, b.node, host, nil)
	notice := func(w *proctest.Probe, n int) {
		t.Helper()
		var err error
		w.Run(func(p *process.Process) { err = p.MonitorNotice(target.PID, "bye", value.Int(int64(n))) })
		if err != nil {
			t.Fatal(err)
		}
	}
	silent := proctest.Spawn(t, a.node, host, nil)
	notice(silent, 1)
	said := proctest.Spawn(t, a.node, host, nil)
	notice(said, 2)
	said.Send(target.PID.String(), "bye", value.Int(20)) // said it itself: the notice is spent
	stopped := proctest.Spawn(t, a.node, host, nil)
	notice(stopped, 3)
	stopped.Run(func(p *process.Process) { _ = p.Unmonitor(target.PID) })
	replaced := proctest.Spawn(t, a.node, host, nil)
	notice(replaced, 4)
	notice(replaced, 40)
	replaced.Send(target.PID.String(), "sync", value.Nil()) // not the notice's topic: it stands
	if err := target.Recv(); err.Topic != "bye" || !value.Equal(err.Payload, value.Int(20)) {
		t.Fatalf("target got %s %v, want said's own bye 20", err.Topic, err.Payload)
	}
	target.Next("sync")

	target.Monitor(silent.PID)
	a.nc.Close()
	got := map[int64]pid.PID{}
	for _, m := range leavesAfterLossTopic(t, target, marker, "bye") {
		n, _ := m.Payload.Int()
		if _, dup := got[n]; dup {
			t.Fatalf("notice %d delivered twice", n)
		}
		got[n] = m.From
	}
	if len(got) != 2 || got[1] != silent.PID || got[40] != replaced.PID {
		t.Fatalf("after node a was lost the target got notices %v, want 1 from %v and 40 from %v", got, silent.PID, replaced.PID)
	}
}
