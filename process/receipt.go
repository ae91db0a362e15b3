package process

import (
	"container/heap"
	"sync"
	"sync/atomic"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
)

// Receipts across nodes.
//
// A message sent with TrySend to a process of another node, over a
// transport.ReceiptTransport, carries a sequence number (Signal.Seq),
// drawn from one counter of the sending node, so it grows along each
// sender/receiver pair. The receiving node puts it in the receiver's
// mailbox without dropping it for a full mailbox (the sender bounds what
// it has in flight; a bound per sending node, Options.ReceiptBytesPerNode,
// stops a node that does not), and once it has left the mailbox (taken,
// or dropped because the receiver ended) the node answers SigTaken with
// the highest sequence number taken for that pair. Answers are cumulative
// and coalesced: a transport drains them (transport.Node's TakenReady and
// DrainTaken) and sends one SigTaken per pair, whatever number of
// messages it covers.
//
// The sending node keeps, per pair with messages in flight, the last
// sequence number sent and the highest one taken: a Receipt is taken once
// that reaches its number. A SigTaken never completes more than was sent,
// and a pair whose messages are all taken is forgotten. When the
// receiver's node is lost (nodeDown), or its transport may have lost
// messages or answers between the two nodes (receiptsLost), every receipt
// toward it is complete: the sender is not left waiting.

// DefaultReceiptBytesPerNode is Options.ReceiptBytesPerNode's default.
const DefaultReceiptBytesPerNode = 64 << 20

// receiptSize is what a message's receipt costs the receiving node beyond
// the message (its ackReq and its place in the takers heap, about),
// counted against ReceiptBytesPerNode.
const receiptSize = 128

// pairKey names a sender and a receiver.
type pairKey struct{ from, to pid.PID }

// sentPair is what a sending node keeps of the messages in flight from
// one local sender to one remote receiver.
type sentPair struct {
	key     pairKey
	through atomic.Uint64 // every message up to this number has been taken
	mu      sync.Mutex
	sent    uint64 // the number of the last message sent
	takers  takers // Done waiters, by number
	gone    bool   // dropped from the table: a sender looks it up again
}

// sentReceipts is the sending node's table of pairs in flight.
type sentReceipts struct {
	seq   atomic.Uint64
	mu    sync.Mutex
	pairs map[pairKey]*sentPair
}

func (s *sentReceipts) pair(k pairKey) *sentPair {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp := s.pairs[k]
	if sp == nil {
		if s.pairs == nil {
			s.pairs = make(map[pairKey]*sentPair)
		}
		sp = &sentPair{key: k}
		s.pairs[k] = sp
	}
	return sp
}

// forgetLocked drops sp from the table when nothing of it is in flight
// nor waited on; sp.mu is held.
func (s *sentReceipts) forgetLocked(sp *sentPair) {
	if sp.gone || sp.through.Load() < sp.sent || len(sp.takers) > 0 {
		return
	}
	sp.gone = true
	s.mu.Lock()
	if s.pairs[sp.key] == sp {
		delete(s.pairs, sp.key)
	}
	s.mu.Unlock()
}

// takenLocked records that every message of sp up to seq has been taken
// (no further than what was sent) and wakes the waiters; sp.mu is held.
func (s *sentReceipts) takenLocked(sp *sentPair, seq uint64) {
	seq = min(seq, sp.sent)
	if seq > sp.through.Load() {
		sp.through.Store(seq)
	}
	for len(sp.takers) > 0 && sp.takers[0].pos <= seq {
		close(heap.Pop(&sp.takers).(taker).ch)
	}
	s.forgetLocked(sp)
}

// sendWithReceipt sends a message with a receipt to a process of another
// node over a transport.ReceiptTransport.
func (n *Node) sendWithReceipt(rt transport.ReceiptTransport, from, to pid.PID, topic string, payload value.Value) (Receipt, error) {
	k := pairKey{from: n.normalize(from), to: to}
	for {
		sp := n.sent.pair(k)
		sp.mu.Lock()
		if sp.gone {
			sp.mu.Unlock()
			continue
		}
		// Numbered and queued under the pair's lock: numbers and queueing
		// keep one order, and a SigTaken waits until sent is set.
		seq := n.sent.seq.Add(1)
		if err := rt.DeliverWithReceipt(transport.Signal{Kind: transport.SigMessage, From: k.from, To: to, Topic: topic, Payload: payload, Seq: seq}); err != nil {
			n.sent.forgetLocked(sp)
			sp.mu.Unlock()
			return Receipt{}, err
		}
		sp.sent = seq
		sp.mu.Unlock()
		return Receipt{f: sp, pos: seq}, nil
	}
}

// remoteTaken applies a SigTaken: receiver has taken every message from
// sender (of this node) numbered up to seq.
func (n *Node) remoteTaken(sender, receiver pid.PID, seq uint64) {
	n.sent.mu.Lock()
	sp := n.sent.pairs[pairKey{from: n.normalize(sender), to: receiver}]
	n.sent.mu.Unlock()
	if sp == nil {
		return // nothing in flight: late, repeated or forged
	}
	sp.mu.Lock()
	n.sent.takenLocked(sp, seq)
	sp.mu.Unlock()
}

// receiptsNodeDown completes every receipt toward node, which is lost.
func (n *Node) receiptsNodeDown(node string) {
	n.receiptsLost(node)
	n.acks.forgetNode(node)
}

// receiptsLost is transport.Node.ReceiptsLost.
func (n *Node) receiptsLost(node string) {
	n.sent.mu.Lock()
	var lost []*sentPair
	for k, sp := range n.sent.pairs {
		if k.to.Node == node {
			lost = append(lost, sp)
		}
	}
	n.sent.mu.Unlock()
	for _, sp := range lost {
		sp.mu.Lock()
		n.sent.takenLocked(sp, sp.sent)
		sp.mu.Unlock()
	}
}

// takenAt returns a channel closed once message seq of sp is taken.
func (sp *sentPair) takenAt(seq uint64) <-chan struct{} {
	if sp.through.Load() >= seq {
		return closedChan
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.through.Load() >= seq {
		return closedChan
	}
	ch := make(chan struct{})
	heap.Push(&sp.takers, taker{pos: seq, ch: ch})
	return ch
}

// The receiving side.

// ackReq is a message with a receipt in a mailbox: when it leaves, its
// sender is told.
type ackReq struct {
	acks  *takenAcks
	key   pairKey
	seq   uint64
	bytes int64         // counted in acct while it waits
	acct  *atomic.Int64 // the sending node's bytes past the mailbox bounds; nil when not counted
}

// fire records that the message has left its mailbox. It runs with the
// mailbox's lock held: it takes only takenAcks' lock.
func (a *ackReq) fire() {
	if a.acct != nil {
		a.acct.Add(-a.bytes)
	}
	a.acks.add(a.key, a.seq)
}

// takenAcks holds, per pair, the highest number taken and not yet
// answered, until a transport drains them.
type takenAcks struct {
	mu      sync.Mutex
	pending map[pairKey]uint64
	nodes   map[string]*atomic.Int64 // bytes each sending node has past the mailbox bounds
	ready   chan struct{}            // 1-slot
}

func (t *takenAcks) init() { t.ready = make(chan struct{}, 1) }

func (t *takenAcks) add(k pairKey, seq uint64) {
	t.mu.Lock()
	if t.pending == nil {
		t.pending = make(map[pairKey]uint64)
	}
	if seq > t.pending[k] {
		t.pending[k] = seq
	}
	t.mu.Unlock()
	select {
	case t.ready <- struct{}{}:
	default:
	}
}

// account returns the byte count of node's messages past the bounds.
func (t *takenAcks) account(node string) *atomic.Int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	a := t.nodes[node]
	if a == nil {
		if t.nodes == nil {
			t.nodes = make(map[string]*atomic.Int64)
		}
		a = new(atomic.Int64)
		t.nodes[node] = a
	}
	return a
}

// forgetNode drops what is kept for node, which is lost: its answers
// would not reach it, and its messages still in mailboxes no longer count
// against a node of that name that comes back.
func (t *takenAcks) forgetNode(node string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.nodes, node)
	for k := range t.pending {
		if k.from.Node == node {
			delete(t.pending, k)
		}
	}
}

// drainTaken is transport.Node.DrainTaken.
func (n *Node) drainTaken(send func(transport.Signal)) {
	n.acks.mu.Lock()
	pending := n.acks.pending
	n.acks.pending = nil
	n.acks.mu.Unlock()
	for k, seq := range pending {
		send(transport.Signal{Kind: transport.SigTaken, From: k.to, To: k.from, Seq: seq})
	}
}

// deliverWithReceipt delivers a message from another node that asks for
// a receipt. It goes into the mailbox past its bounds, while its sending
// node has less than ReceiptBytesPerNode there so (the sender bounds what
// it has in flight, so it does not wait for room it cannot see); past
// that it is delivered as any message (dropped when the mailbox is full).
// Either way its sender is answered once it has left the mailbox, or at
// once when there is no such process.
func (n *Node) deliverWithReceipt(s transport.Signal) {
	a := &ackReq{acks: &n.acks, key: pairKey{from: s.From, to: s.To}, seq: s.Seq}
	p := n.lookup(s.To)
	if p == nil {
		n.deadLetters.Add(1)
		a.fire()
		return
	}
	m := Message{Topic: s.Topic, From: s.From, Payload: s.Payload}
	limit := p.inbox.max
	acct := n.acks.account(s.From.Node)
	if size := int64(m.size() + receiptSize); acct.Load()+size <= n.receiptBytes {
		acct.Add(size)
		a.acct, a.bytes, limit = acct, size, 0
	}
	switch p.inbox.pushAck(m, limit, a) {
	case pushed:
		if p.handler != nil {
			p.schedule()
		}
	case pushClosed:
		n.deadLetters.Add(1)
	case pushFull:
		p.dropped(m)
	}
}

// pushAck is pushAt for a message with a receipt: a fires once it has
// left the queue. Refused (full or closed), it fires once what is queued
// now has left: its sender's earlier messages are answered in order, and
// the answer covers this one too.
func (q *queue[T]) pushAck(v T, limit int, a *ackReq) pushResult {
	q.mu.Lock()
	defer q.mu.Unlock()
	res := pushed
	switch {
	case q.closed:
		res = pushClosed
	case limit > 0 && (q.n >= limit || (q.weigh != nil && q.n > 0 && q.bytes+q.weigh(v) > q.maxBytes)):
		res = pushFull
	}
	if res != pushed {
		if a.acct != nil {
			a.acct.Add(-a.bytes)
			a.acct = nil
		}
		if q.n == 0 {
			a.fire()
		} else {
			heap.Push(&q.takers, taker{pos: q.out.Load() + uint64(q.n) - 1, ack: a})
		}
		return res
	}
	if q.weigh != nil {
		q.bytes += q.weigh(v)
	}
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = v
	heap.Push(&q.takers, taker{pos: q.out.Load() + uint64(q.n), ack: a})
	q.n++
	q.wake()
	return pushed
}
