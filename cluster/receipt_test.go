package cluster_test

import (
	"slices"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
)

// stalled spawns on n a process that takes nothing from its mailbox until
// gate is closed, then forwards what it takes to got, in order. It ends
// on any event (the node's shutdown).
func stalled(t *testing.T, n *process.Node, gate <-chan struct{}, got chan<- process.Message) pid.PID {
	t.Helper()
	id, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		select {
		case <-gate:
		case <-p.EventsReady():
			return value.Nil(), nil
		}
		for {
			select {
			case <-p.InboxReady():
				for {
					m, ok, closed := p.TryReceive()
					if closed {
						return value.Nil(), nil
					}
					if !ok {
						break
					}
					got <- m
				}
			case <-p.EventsReady():
				return value.Nil(), nil
			}
		}
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// sendReceipts sends n messages numbered 0.. from sender to to with a
// receipt each.
func sendReceipts(t *testing.T, sender *proctest.Probe, to pid.PID, n int) []process.Receipt {
	t.Helper()
	rs := make([]process.Receipt, n)
	sender.Run(func(p *process.Process) {
		for i := range rs {
			r, err := p.Node().TrySend(p.PID(), to, "m", value.Int(int64(i)))
			if err != nil {
				t.Errorf("message %d: %v", i, err)
			}
			rs[i] = r
		}
	})
	return rs
}

func waitDone(t *testing.T, what string, r process.Receipt) {
	t.Helper()
	select {
	case <-r.Done():
	case <-time.After(timeout):
		t.Fatalf("%s: the receipt is not complete after %v", what, timeout)
	}
}

// TestReceiptAcrossNodes: a message sent with a receipt to a process of
// another node is not taken while that process stalls, is kept past its
// mailbox's bound instead of dropped (its sender bounds what it has in
// flight), and its receipt completes once the process takes it; the
// messages arrive in order and the answers are far fewer than the
// messages.
func TestReceiptAcrossNodes(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	a := startNode(t, s, "a", nil)
	b, _ := joinNode(t, s.ClientURL(), "b", nil, &process.HostOptions{MailboxSize: 4}, false)
	t.Cleanup(func() { b.stop(t) })
	waitPeers(t, a, b)

	gate, got := make(chan struct{}), make(chan process.Message, 64)
	target := stalled(t, b.node, gate, got)
	sender := proctest.Spawn(t, a.node, host, nil)
	const n = 40
	rs := sendReceipts(t, sender, target, n)
	poll.Until(t, timeout, "every message in the stalled mailbox", func() bool { return b.node.MailboxLen(target) == n })
	for i, r := range rs {
		if r.Taken() {
			t.Fatalf("receipt %d complete while its message waits in the mailbox", i)
		}
	}
	in := b.tr.Stats().SignalsOut
	close(gate)
	for i := range n {
		m := <-got
		if v, _ := m.Payload.Int(); v != int64(i) {
			t.Fatalf("message %d: got %v", i, m.Payload)
		}
	}
	waitDone(t, "the last message", rs[n-1])
	for i, r := range rs {
		if !r.Taken() {
			t.Errorf("receipt %d not complete after the last one", i)
		}
	}
	if d := b.node.Hosts()[0].Stats().Dropped; d != 0 {
		t.Errorf("%d messages dropped on the target's node", d)
	}
	if answers := b.tr.Stats().SignalsOut - in; answers >= n {
		t.Errorf("%d answers for %d messages: they are not coalesced", answers, n)
	}
}

// TestReceiptsCompleteWhenTheReceiverEnds: receipts of messages that
// wait in the mailbox of a process that ends complete: the sender is not
// left waiting.
func TestReceiptsCompleteWhenTheReceiverEnds(t *testing.T) {
	t.Parallel()
	a, b, _ := cluster3(t)
	gate, got := make(chan struct{}), make(chan process.Message, 64)
	target := stalled(t, b.node, gate, got)
	sender := proctest.Spawn(t, a.node, host, nil)
	rs := sendReceipts(t, sender, target, 5)
	poll.Until(t, timeout, "the messages in the mailbox", func() bool { return b.node.MailboxLen(target) == 5 })
	if err := b.node.Terminate(target); err != nil {
		t.Fatal(err)
	}
	waitDone(t, "a message in the mailbox of a process that ended", rs[4])
	// A message sent after it ended is answered at once.
	rs = sendReceipts(t, sender, target, 1)
	waitDone(t, "a message to a process that ended", rs[0])
}

// TestReceiptsCompleteWhenTheNodeIsLost: receipts of messages to a node
// lost without a goodbye complete once its loss is noticed.
func TestReceiptsCompleteWhenTheNodeIsLost(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	a, b := startNode(t, s, "a", fastOptions()), startNode(t, s, "b", fastOptions())
	waitPeers(t, a, b)
	gate, got := make(chan struct{}), make(chan process.Message, 64)
	target := stalled(t, b.node, gate, got)
	sender := proctest.Spawn(t, a.node, host, nil)
	rs := sendReceipts(t, sender, target, 5)
	poll.Until(t, timeout, "the messages in the mailbox", func() bool { return b.node.MailboxLen(target) == 5 })
	lost := time.Now()
	b.nc.Close() // no goodbye, no answers
	waitDone(t, "a message to a lost node", rs[4])
	t.Logf("receipts complete %v after the node's loss", time.Since(lost))
}

// TestForgedTakenIsIgnored: a node cannot complete receipts of messages
// sent to another node's processes: a SigTaken naming a receiver that is
// not on the node that sent it is dropped and counted, and so is a
// message asking for a receipt for a sender of another node (its answer
// would go to that node, for a pair it has in flight). A SigTaken for a
// pair with nothing in flight changes nothing.
func TestForgedTakenIsIgnored(t *testing.T) {
	t.Parallel()
	a, b, c := cluster3(t)
	gate, got := make(chan struct{}), make(chan process.Message, 64)
	target := stalled(t, b.node, gate, got)
	sender := proctest.Spawn(t, a.node, host, nil)
	rs := sendReceipts(t, sender, target, 3)
	poll.Until(t, timeout, "the messages in the mailbox", func() bool { return b.node.MailboxLen(target) == 3 })

	onC := proctest.Spawn(t, c.node, host, nil)
	onB := proctest.Spawn(t, b.node, host, nil)
	toA := cluster.EncodeBatch("c", c.tr.Incarnation(),
		transport.Signal{Kind: transport.SigTaken, From: target, To: sender.PID, Seq: 1 << 60},                           // c speaks for b
		transport.Signal{Kind: transport.SigTaken, From: onC.PID, To: sender.PID, Seq: 1 << 60},                          // nothing in flight to it
		transport.Signal{Kind: transport.SigTaken, From: onC.PID, To: pid.PID{Node: "a", Host: host, ID: 12345}, Seq: 7}, // no such sender
	)
	toB := cluster.EncodeBatch("c", c.tr.Incarnation(),
		transport.Signal{Kind: transport.SigMessage, From: sender.PID, To: onB.PID, Topic: "forged", Payload: value.Nil(), Seq: 1 << 60}) // c speaks for a
	beforeA, beforeB := a.tr.Stats().Misattributed, b.tr.Stats().Misattributed
	if err := c.nc.Publish(a.tr.NodeSubject("a"), toA); err != nil {
		t.Fatal(err)
	}
	if err := c.nc.Publish(b.tr.NodeSubject("b"), toB); err != nil {
		t.Fatal(err)
	}
	// Markers from c after the forged batches, on the same connection:
	// once they arrive, the forgeries were handled.
	onC.Run(func(p *process.Process) {
		_ = p.Send(sender.PID, "marker", value.Nil())
		_ = p.Send(onB.PID, "marker", value.Nil())
	})
	sender.Next("marker")
	if m := onB.Recv(); m.Topic != "marker" {
		t.Errorf("the process on b got %q first: a message asking a receipt for a's sender, from c, was applied", m.Topic)
	}
	if got := a.tr.Stats().Misattributed - beforeA; got != 1 {
		t.Errorf("Misattributed on a = %d, want 1", got)
	}
	if got := b.tr.Stats().Misattributed - beforeB; got != 1 {
		t.Errorf("Misattributed on b = %d, want 1", got)
	}
	for i, r := range rs {
		if r.Taken() {
			t.Fatalf("receipt %d completed by a forged answer", i)
		}
	}
	close(gate)
	waitDone(t, "the last message", rs[2])
}

// TestLostBatchesCompleteReceipts: receipts for messages to a node that
// says batches between the two may have been lost (NATS dropped some for
// it) complete, though the node stays up: the messages or their answers
// may be gone, and the sender must not wait for good.
func TestLostBatchesCompleteReceipts(t *testing.T) {
	t.Parallel()
	a, b, _ := cluster3(t)
	gate, got := make(chan struct{}), make(chan process.Message, 64)
	target := stalled(t, b.node, gate, got)
	sender := proctest.Spawn(t, a.node, host, nil)
	rs := sendReceipts(t, sender, target, 3)
	poll.Until(t, timeout, "the messages in the mailbox", func() bool { return b.node.MailboxLen(target) == 3 })
	if rs[2].Taken() {
		t.Fatal("complete before anything was taken")
	}
	if err := b.nc.Publish(a.tr.NodeSubject("a"), cluster.EncodeBatch("b", b.tr.Incarnation(), transport.Signal{Kind: cluster.KindLost})); err != nil {
		t.Fatal(err)
	}
	waitDone(t, "a message to a node that lost batches", rs[2])
	if !slices.Contains(a.tr.Peers(), "b") {
		t.Fatal("b is down on a: the receipts may have completed for that")
	}
}

// TestPublishErrorCompletesReceipts: receipts for messages a node could
// not publish (its NATS connection is closed) complete before the other
// node is seen down.
func TestPublishErrorCompletesReceipts(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	a := startNode(t, s, "a", &cluster.Options{HeartbeatTimeout: time.Hour})
	b := startNode(t, s, "b", nil)
	waitPeers(t, a, b)
	gate, got := make(chan struct{}), make(chan process.Message, 64)
	target := stalled(t, b.node, gate, got)
	sender := proctest.Spawn(t, a.node, host, nil)
	a.nc.Close()
	rs := sendReceipts(t, sender, target, 3)
	waitDone(t, "a message that could not be published", rs[2])
	if !slices.Contains(a.tr.Peers(), "b") {
		t.Fatal("b is down on a: the receipts may have completed for that")
	}
	if a.tr.Stats().PublishErrors == 0 {
		t.Fatal("no publish error counted")
	}
}
