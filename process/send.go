package process

import (
	"math/bits"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
)

// Send sends a message from from (zero when not sent by a process) to to.
//
// It never blocks. Messages from one sender to one receiver arrive in the
// order sent. Sending to a process that has ended is not an error: the
// message is dropped and counted in Stats.DeadLetters. Sending to a full
// mailbox drops the message, counts it in the host's stats, logs it and
// returns ErrMailboxFull. Topics must not be empty or start with '@'.
func (n *Node) Send(from, to pid.PID, topic string, payload value.Value) error {
	if err := checkTopic(topic); err != nil {
		return err
	}
	return n.send(from, to, topic, payload)
}

// sendBy is Send from the process p, which is known already: it is
// counted as p's without looking it up (countOut).
func (n *Node) sendBy(p *Process, to pid.PID, topic string, payload value.Value) error {
	if err := checkTopic(topic); err != nil {
		return err
	}
	p.countOut()
	return n.deliverTo(p.pid, to, topic, payload, true, 0)
}

// SendDest is Send to a registered name or a PID in text form. An unknown
// name is ErrUnknownName.
func (n *Node) SendDest(from pid.PID, dest, topic string, payload value.Value) error {
	if err := checkTopic(topic); err != nil {
		return err
	}
	to, err := n.Resolve(dest)
	if err != nil {
		return err
	}
	return n.send(from, to, topic, payload)
}

// sendDestBy is SendDest from the process p (see sendBy).
func (n *Node) sendDestBy(p *Process, dest, topic string, payload value.Value) error {
	if err := checkTopic(topic); err != nil {
		return err
	}
	to, err := n.Resolve(dest)
	if err != nil {
		return err
	}
	return n.sendBy(p, to, topic, payload)
}

// TrySend is Send for a sender that waits and tries again when the
// receiver's mailbox is full: it returns ErrMailboxFull then, without
// counting or logging a drop. It also returns a Receipt, which tells when
// the receiver has taken the message from its mailbox. A sender that
// bounds what it has in flight to a receiver waits on it (the relay holds
// back a client while its target catches up, and bounds the bytes each
// client has in flight to its target, this way).
//
// For a process of another node, over a transport.ReceiptTransport (the
// cluster's), the receipt completes when that node answers that the
// receiver took the message (or ended), or when the node is lost; that
// node does not drop the message for a full mailbox, since its sender
// bounds what it has in flight (see receipt.go and docs/cluster.md). Over
// another transport, or from the zero PID (nobody to answer), it is
// complete at once.
func (n *Node) TrySend(from, to pid.PID, topic string, payload value.Value) (Receipt, error) {
	r, err := n.trySend(from, to, topic, payload)
	if err == nil {
		n.countOut(from) // once, not for each try refused for room
	}
	return r, err
}

func (n *Node) trySend(from, to pid.PID, topic string, payload value.Value) (Receipt, error) {
	if err := checkTopic(topic); err != nil {
		return Receipt{}, err
	}
	if !n.IsLocal(to) {
		if rt, ok := n.transport.(transport.ReceiptTransport); ok && !from.IsZero() {
			return n.sendWithReceipt(rt, from, to, topic, payload)
		}
		return Receipt{}, n.sendSignal(transport.Signal{Kind: transport.SigMessage, From: from, To: to, Topic: topic, Payload: payload})
	}
	p := n.lookup(to)
	if p == nil {
		n.deadLetters.Add(1)
		return Receipt{}, nil
	}
	return p.deliverAt(Message{Topic: topic, From: from, Payload: payload}, false, 0)
}

// Receipt tells when a message sent with TrySend has left the
// receiver's mailbox: taken by the receiver, or dropped because the
// receiver ended (or, for a process of another node, its node was lost).
// The zero Receipt (a message dropped at once, or sent over a transport
// that carries no receipts) is taken already.
type Receipt struct {
	q   *queue[Message] // a local receiver's mailbox
	f   *sentPair       // or the pair in flight toward a remote receiver
	pos uint64          // the message's place in q, or its number in f
}

// Taken reports whether the message has left the mailbox.
func (r Receipt) Taken() bool {
	switch {
	case r.q != nil:
		return r.q.isTaken(r.pos)
	case r.f != nil:
		return r.f.through.Load() >= r.pos
	}
	return true
}

// Done returns a channel that is closed once the message has left the
// mailbox. Each call registers a waiter until then: call it once per wait.
func (r Receipt) Done() <-chan struct{} {
	switch {
	case r.q != nil:
		return r.q.takenAt(r.pos)
	case r.f != nil:
		return r.f.takenAt(r.pos)
	}
	return closedChan
}

// MailboxRoom returns a channel that is closed once the mailbox of the
// local process p holds fewer than below messages, or at once when p is
// not a live process of this node. For a process of another node it is
// closed once the queue toward that node has room (transport.RoomTransport; a
// sender refused with ErrBacklog waits for it), or at once. below <= 0 means half the mailbox's
// bound, which a sender refused with ErrMailboxFull waits for: waiting for
// half rather than one free place lets many waiting senders go at a time
// instead of waking them all for each message taken. A sender selects on
// it together with its own stop channel, then tries again.
func (n *Node) MailboxRoom(p pid.PID, below int) <-chan struct{} {
	if !n.IsLocal(p) {
		if rt, ok := n.transport.(transport.RoomTransport); ok {
			return rt.Room(p.Node)
		}
		return closedChan
	}
	proc := n.lookup(p)
	if proc == nil {
		return closedChan
	}
	if max := proc.inbox.max; below <= 0 || (max > 0 && below > max) {
		below = max / 2
		if below < 1 {
			below = 1
		}
	}
	return proc.inbox.roomBelow(below)
}

// SendSystem is Send for the runtime's own topics, which start with '@'.
// Packages built on process (the relay, the cluster) use it.
func (n *Node) SendSystem(from, to pid.PID, topic string, payload value.Value) error {
	return n.send(from, to, topic, payload)
}

// SendOwed is SendSystem for a message its receiver is owed because of
// one it already took (the relay's ws.leave, after its ws.join: one leave
// per join): a full mailbox takes it anyway, past its bounds, so that the
// pair is never broken. It adds at most one message to the mailbox per
// message the mailbox accepted within its bounds, so the mailbox stays
// within twice them. To a process of another node it goes as a message
// with a receipt (see TrySend), which that node's mailbox takes
// past its bounds too, within Options.ReceiptBytesPerNode.
func (n *Node) SendOwed(from, to pid.PID, topic string, payload value.Value) error {
	if !n.IsLocal(to) {
		_, err := n.TrySend(from, to, topic, payload)
		return err
	}
	p := n.lookup(to)
	if p == nil {
		n.deadLetters.Add(1)
		return nil
	}
	switch p.inbox.push(Message{Topic: topic, From: from, Payload: payload}, true) {
	case pushed:
		if p.handler != nil {
			p.schedule()
		}
	case pushClosed:
		n.deadLetters.Add(1)
	}
	return nil
}

func checkTopic(topic string) error {
	if topic == "" {
		return &OpError{Op: "send", Err: ErrEmptyTopic}
	}
	if topic[0] == '@' {
		return &OpError{Op: "send", Arg: topic, Err: ErrReservedTopic}
	}
	return nil
}

func (n *Node) send(from, to pid.PID, topic string, payload value.Value) error {
	return n.sendTo(from, to, topic, payload, true, 0)
}

// sendTo delivers a message; dropFull says whether a full mailbox drops it
// (counted and logged) or only reports ErrMailboxFull (TrySend), and limit,
// when positive, lowers the mailbox's bound for this message.
func (n *Node) sendTo(from, to pid.PID, topic string, payload value.Value, dropFull bool, limit int) error {
	n.countOut(from)
	return n.deliverTo(from, to, topic, payload, dropFull, limit)
}

// deliverTo is sendTo once the message is counted.
func (n *Node) deliverTo(from, to pid.PID, topic string, payload value.Value, dropFull bool, limit int) error {
	if !n.IsLocal(to) {
		return n.sendSignal(transport.Signal{Kind: transport.SigMessage, From: from, To: to, Topic: topic, Payload: payload})
	}
	p := n.lookup(to)
	if p == nil {
		n.deadLetters.Add(1)
		return nil
	}
	return p.deliver(Message{Topic: topic, From: from, Payload: payload}, dropFull, limit)
}

func (p *Process) deliver(m Message, dropFull bool, limit int) error {
	_, err := p.deliverAt(m, dropFull, limit)
	return err
}

func (p *Process) deliverAt(m Message, dropFull bool, limit int) (Receipt, error) {
	if max := p.inbox.max; limit <= 0 || (max > 0 && max < limit) {
		limit = max
	}
	res, pos := p.inbox.pushAt(m, limit)
	switch res {
	case pushed:
		p.msgsIn.Add(1)
		p.host.taken.Add(1)
		if p.handler != nil {
			p.schedule()
		}
		return Receipt{q: &p.inbox, pos: pos}, nil
	case pushClosed:
		p.node.deadLetters.Add(1)
		return Receipt{}, nil
	}
	if !dropFull {
		return Receipt{}, &OpError{Op: "send", Arg: p.pid.String(), Err: ErrMailboxFull}
	}
	p.dropped(m)
	return Receipt{}, &OpError{Op: "send", Arg: p.pid.String(), Err: ErrMailboxFull}
}

// dropped counts and logs (rate-limited) m, dropped for a full mailbox.
func (p *Process) dropped(m Message) {
	p.host.dropped.Add(1)
	p.mu.Lock()
	p.drops++
	drops := p.drops
	p.mu.Unlock()
	if bits.OnesCount64(drops) == 1 { // log the 1st, 2nd, 4th, 8th... drop
		p.node.log.Warn("mailbox full: message dropped",
			"pid", p.pid.String(), "topic", m.Topic, "from", m.From.String(),
			"mailbox_size", p.host.mailboxSize, "mailbox_bytes", p.host.mailboxBytes, "message_bytes", m.size(), "dropped_so_far", drops)
	}
}

// countOut counts a message sent by from, when from is a live process of
// this node (for observers: ProcessInfo.MessagesOut). It looks the
// sender up: a sender known as a *Process counts itself (sendBy).
func (n *Node) countOut(from pid.PID) {
	if from.ID == 0 || from.Node != n.name {
		return
	}
	if p := n.procs.get(from.ID); p != nil && p.pid == from {
		p.countOut()
	}
}

// countOut counts a message p sent.
func (p *Process) countOut() {
	p.msgsOut.Add(1)
	p.host.sent.Add(1)
}
