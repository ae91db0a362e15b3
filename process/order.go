package process

import "github.com/wsrelay/wsrelay/pid"

// Order between messages and events.
//
// A process has two queues: its inbox of messages and its events (EXIT,
// LINK_DOWN, CANCEL). Events usually overtake a backlog of messages, so a
// CANCEL or an unrelated EXIT need not wait behind it. But signals from one
// sender to one receiver must arrive in the order sent: the EXIT of a
// process must not overtake the messages it sent before it ended.
//
// So an event is gated on its sender. When it is queued, the inbox is
// scanned (from the newest message back) for the last message from the
// same sender; the event records that message's position in the inbox's
// history of pops (its gate), and cannot be received until the inbox has
// popped it. An event whose sender has nothing waiting is not gated. A
// gated event does not hold back later events from other senders.
//
// The zero PID is not a sender: messages and events "from outside any
// process" (a CANCEL from Shutdown, a Send with no process) have no order
// between them, so a CANCEL at shutdown never waits behind a backlog.
//
// This holds for remote senders as long as the transport hands a sender's
// signals to handleSignal in the order sent: each message is in the inbox
// before the signal after it is handled.
//
// The scan costs one pass over the receiver's waiting messages per event;
// events are rare next to messages, and the inbox is bounded.

// gateFor returns the gate of an event from sender: the inbox's pop count
// once it has popped the last message from sender still waiting; ok is
// false when sender has nothing waiting.
func (p *Process) gateFor(sender pid.PID) (gate uint32, ok bool) {
	if sender.IsZero() {
		return 0, false // from outside any process (Shutdown's CANCEL): not a sender
	}
	q := &p.inbox
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return 0, false
	}
	mask := len(q.buf) - 1
	for i := q.n - 1; i >= 0; i-- {
		if from := &q.buf[(q.head+i)&mask].From; from.ID == sender.ID && *from == sender {
			return uint32(q.out.Load()) + uint32(i) + 1, true
		}
	}
	return 0, false
}

// passed reports whether an inbox that has popped popped messages is past
// gate. The counts wrap; the difference is right while fewer than 2^31
// messages wait, far beyond any mailbox bound.
func passed(popped, gate uint32) bool { return int32(popped-gate) >= 0 }

// pushEvent queues e behind the messages its sender sent before it. It
// reports whether e was queued (false: the process has ended).
func (p *Process) pushEvent(e Event) bool {
	e.gate, e.gated = p.gateFor(e.From)
	if e.gated {
		// Counted before the push wakes the consumer, so that a message
		// received right after the wake-up wakes it again (passedMessage).
		p.gated.Add(1)
	}
	if p.events.push(e, true) != pushed {
		if e.gated {
			p.gated.Add(-1)
		}
		return false
	}
	return true
}

// popEvent returns the oldest event that may be received now: one not
// gated, or whose gate the inbox has passed. An event gated on one sender
// does not hold back a later event from another; events from one sender
// keep their order because their gates never decrease.
func (p *Process) popEvent() (e Event, ok, closed bool) { return p.takeEvent(true) }

// popEventAlone returns the oldest event, gated or not: for a consumer
// that waits on its events alone, which could not see a message before
// the event anyway (and would otherwise wait for messages it never reads).
func (p *Process) popEventAlone() (e Event, ok, closed bool) { return p.takeEvent(false) }

func (p *Process) takeEvent(ordered bool) (e Event, ok, closed bool) {
	popped := p.inbox.poppedCount() // only grows (mod 2^32): a stale value is safe
	q := &p.events
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.n == 0 {
		return e, false, q.closed
	}
	mask := len(q.buf) - 1
	for i := 0; i < q.n; i++ {
		if h := &q.buf[(q.head+i)&mask]; !ordered || !h.gated || passed(popped, h.gate) {
			e = q.removeAt(i)
			if e.gated {
				p.gated.Add(-1)
			}
			return e, true, false
		}
	}
	return e, false, false
}

// passedMessage runs after each message the process receives: a gated
// event may now be ready, so a consumer waiting on EventsReady is woken.
func (p *Process) passedMessage() {
	if p.gated.Load() > 0 {
		p.events.poke()
	}
}

// removeAt removes and returns the i-th oldest item (i < q.n); the caller
// holds q.mu. The items before it move up one place.
func (q *queue[T]) removeAt(i int) T {
	mask := len(q.buf) - 1
	v := q.buf[(q.head+i)&mask]
	for j := i; j > 0; j-- {
		q.buf[(q.head+j)&mask] = q.buf[(q.head+j-1)&mask]
	}
	var zero T
	q.buf[q.head] = zero
	q.head = (q.head + 1) & mask
	q.n--
	q.out.Add(1)
	if q.n == 0 {
		q.head = 0
	}
	return v
}

// poppedCount is how many items have left the queue (popped, or dropped
// at close), modulo 2^32.
func (q *queue[T]) poppedCount() uint32 { return uint32(q.out.Load()) }

// poke wakes the consumer unless the queue is closed.
func (q *queue[T]) poke() {
	q.mu.Lock()
	if !q.closed {
		q.wake()
	}
	q.mu.Unlock()
}
