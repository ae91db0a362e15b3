package process_test

import (
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
)

// receiptMem is memTransport that carries receipts; the test sends the
// answers itself (answer), so it decides when they travel.
type receiptMem struct{ memTransport }

func (m *receiptMem) DeliverWithReceipt(s transport.Signal) error { return m.Deliver(s) }

// answer sends what n owes other nodes for their messages taken.
func (m *receiptMem) answer(n *process.Node) int {
	sent := 0
	m.mu.Lock()
	side := m.nodes[n.Name()]
	m.mu.Unlock()
	side.DrainTaken(func(s transport.Signal) {
		if s.Kind != transport.SigTaken || s.Seq == 0 {
			panic("DrainTaken handed a signal that is not an answer")
		}
		_ = m.Deliver(s)
		sent++
	})
	return sent
}

// puller is a process that takes messages from its mailbox only when told:
// pull(k) takes k and returns their payloads.
type puller struct {
	pid  pid.PID
	pull chan int
	got  chan []value.Value
}

func spawnPuller(t *testing.T, n *process.Node) *puller {
	t.Helper()
	pu := &puller{pull: make(chan int), got: make(chan []value.Value)}
	id, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		for {
			select {
			case k := <-pu.pull:
				var vs []value.Value
				for range k {
					m, ok, _ := p.TryReceive()
					if !ok {
						break
					}
					vs = append(vs, m.Payload)
				}
				pu.got <- vs
			case <-p.EventsReady():
				return value.Nil(), nil
			}
		}
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pu.pid = id
	return pu
}

func (pu *puller) take(k int) []value.Value {
	pu.pull <- k
	return <-pu.got
}

func sendWithReceipts(t *testing.T, n *process.Node, from, to pid.PID, first, count int) []process.Receipt {
	t.Helper()
	var rs []process.Receipt
	for i := first; i < first+count; i++ {
		r, err := n.TrySend(from, to, "m", value.Int(int64(i)))
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		rs = append(rs, r)
	}
	return rs
}

func takenCount(rs []process.Receipt) int {
	n := 0
	for _, r := range rs {
		if r.Taken() {
			n++
		}
	}
	return n
}

// TestReceiptsAcrossNodes: a receipt for a message to another node
// completes once that node answers that its receiver took it; the
// receiving node keeps such messages past the mailbox's bound (while the
// sending node has less than ReceiptBytesPerNode there), drops one past
// that as any message and still answers for it in order; answers are one
// per pair however many messages they cover.
func TestReceiptsAcrossNodes(t *testing.T) {
	t.Parallel()
	tr := &receiptMem{memTransport{nodes: map[string]transport.Node{}}}
	a := newNode(t, nil, &process.Options{Name: "a", Transport: tr})
	// Messages of about 100 bytes (process.Message's 64, topic, integer)
	// and their receipts of 128: 5 fit in 2000, 25 do not.
	b := newNode(t, &process.HostOptions{MailboxSize: 2}, &process.Options{Name: "b", Transport: tr, ReceiptBytesPerNode: 2000})
	sender := spawnProbe(t, a, process.SpawnOptions{})
	target := spawnPuller(t, b)

	rs := sendWithReceipts(t, a, sender.pid, target.pid, 0, 5)
	if got := b.MailboxLen(target.pid); got != 5 {
		t.Fatalf("%d messages in a mailbox of 2, want all 5 kept", got)
	}
	if n := takenCount(rs); n != 0 {
		t.Fatalf("%d receipts complete before anything was taken", n)
	}
	if vs := target.take(2); len(vs) != 2 {
		t.Fatalf("took %v", vs)
	}
	if n := tr.answer(b); n != 1 {
		t.Fatalf("%d answers for one pair, want 1", n)
	}
	if !rs[1].Taken() || rs[2].Taken() {
		t.Fatalf("after 2 taken: receipts complete %d of 5, want the first 2", takenCount(rs))
	}
	select {
	case <-rs[0].Done():
	default:
		t.Fatal("Done of a complete receipt is not closed")
	}
	done := rs[4].Done()

	// Past ReceiptBytesPerNode: dropped for the full mailbox, answered
	// once the messages before it have been taken.
	rs = append(rs, sendWithReceipts(t, a, sender.pid, target.pid, 5, 20)...)
	host, _ := b.Host(host)
	if d := host.Stats().Dropped; d == 0 {
		t.Fatal("nothing dropped past ReceiptBytesPerNode")
	}
	tr.answer(b)
	if n := takenCount(rs); n != 2 {
		t.Fatalf("%d receipts complete, want 2: a dropped message was answered before the messages queued before it were taken", n)
	}
	kept := b.MailboxLen(target.pid)
	if vs := target.take(kept); len(vs) != kept {
		t.Fatalf("took %d of %d", len(vs), kept)
	}
	tr.answer(b)
	if n := takenCount(rs); n != len(rs) {
		t.Fatalf("%d of %d receipts complete once the mailbox is empty", n, len(rs))
	}
	<-done

	// The receiver ends with messages in its mailbox: they are answered.
	rs = sendWithReceipts(t, a, sender.pid, target.pid, 25, 2)
	if err := b.Terminate(target.pid); err != nil {
		t.Fatal(err)
	}
	waitExit(t, b, target.pid)
	tr.answer(b)
	if n := takenCount(rs); n != 2 {
		t.Fatalf("%d of 2 receipts complete after the receiver ended", n)
	}
	// To a process that has ended: answered at once.
	rs = sendWithReceipts(t, a, sender.pid, target.pid, 27, 1)
	tr.answer(b)
	if !rs[0].Taken() {
		t.Fatal("a receipt for a message to a process that ended is not complete")
	}

	// The receiver's node is lost: every receipt toward it completes.
	other := spawnPuller(t, b)
	rs = sendWithReceipts(t, a, sender.pid, other.pid, 28, 3)
	done = rs[2].Done()
	tr.cut("b")
	<-done
	if n := takenCount(rs); n != 3 {
		t.Fatalf("%d of 3 receipts complete after the node was lost", n)
	}
}

// TestReceiptAnswersCompleteNoMoreThanSent: an answer (SigTaken) for a
// number past what was sent completes only what was sent, not the next
// message; one for a pair with nothing in flight changes nothing.
func TestReceiptAnswersCompleteNoMoreThanSent(t *testing.T) {
	t.Parallel()
	tr := &receiptMem{memTransport{nodes: map[string]transport.Node{}}}
	a := newNode(t, nil, &process.Options{Name: "a", Transport: tr})
	b := newNode(t, nil, &process.Options{Name: "b", Transport: tr})
	sender := spawnProbe(t, a, process.SpawnOptions{})
	target := spawnPuller(t, b)

	tr.nodes["a"].HandleSignal(transport.Signal{Kind: transport.SigTaken, From: target.pid, To: sender.pid, Seq: 1 << 62}) // nothing in flight
	rs := sendWithReceipts(t, a, sender.pid, target.pid, 0, 1)
	if rs[0].Taken() {
		t.Fatal("an earlier answer completed a later message")
	}
	tr.nodes["a"].HandleSignal(transport.Signal{Kind: transport.SigTaken, From: target.pid, To: sender.pid, Seq: 1 << 62})
	if !rs[0].Taken() {
		t.Fatal("an answer past the message did not complete it")
	}
	rs = sendWithReceipts(t, a, sender.pid, target.pid, 1, 1)
	if rs[0].Taken() {
		t.Fatal("an answer past what was sent completed a message sent after it")
	}
	target.take(2)
	tr.answer(b)
	if !rs[0].Taken() {
		t.Fatal("not complete once taken")
	}
}
