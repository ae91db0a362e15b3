package wsrelay

import (
	"errors"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// The owed queue: what a connection owes its targets, in order, apart
// from the client's frames. ws.join, ws.leave, the node_down notice left
// with a target on another node, the monitor of a new target and the
// CANCEL of an owned target are pushed here (by the connection's owner)
// and sent by drainOwed, which never waits: a send refused for a full
// mailbox or a full queue toward the target's node
// (process.ErrMailboxFull, process.ErrBacklog) stays at the head of the
// queue, and one goroutine (waitOwed) waits for room without any lock
// held, then posts a drain to the owner.
// Meanwhile the connection goes on: its process handles ws.close and
// ws.send, its timers run, its reader reads the client's close frame, and
// Shutdown ends it. Only the client's next frame waits (frameIn), since it
// must reach its target after the join and before the leave.
//
// One leave per join: a leave is pushed behind the join it answers, and
// both go in order; when an item fails for another reason (the target's
// node is down, say) the items behind it are dropped with it, so a leave
// is never sent for a join that was not, and the connection is closed
// (undelivered.go). When the relay's Shutdown runs out of time (hurry),
// what is still owed is given up and logged.

// owedKind is what an owed item does.
type owedKind uint8

const (
	owedJoin    owedKind = iota // ws.join, with a receipt (TrySend)
	owedLeave                   // ws.leave (SendOwed: a full mailbox takes it)
	owedNotice                  // the node_down leave left with a target on another node (MonitorNotice)
	owedMonitor                 // the monitor of a new target (a transfer)
	owedCancel                  // CANCEL to an owned target, after its ws.leave
)

// owed is one item of the owed queue.
type owed struct {
	kind    owedKind
	target  pid.PID
	payload value.Value // of a join, a leave, a notice
	reason  string      // of a cancel
	proc    *process.Process
}

// topic names the item in the log and for undeliverable.
func (o owed) topic() string {
	switch o.kind {
	case owedJoin:
		return TopicJoin
	case owedLeave:
		return TopicLeave
	case owedCancel:
		return "(cancel)"
	}
	return topicMonitor
}

// owedFailure is an owed item that could not be delivered, for the caller
// of drainOwed to act on (conn.lost).
type owedFailure struct {
	topic  string
	target pid.PID
	err    error
}

// pushOwed adds an item to the owed queue; run by the owner. The caller
// drains it (drainOwed).
func (c *conn) pushOwed(o owed) {
	if len(c.owed) == 0 {
		c.owedClear = make(chan struct{})
	}
	c.owed = append(c.owed, o)
	if o.kind == owedJoin {
		c.joined = true // the leave goes behind it
	}
}

// send tries to deliver one owed item, without waiting.
func (c *conn) sendOwed(o owed) error {
	n := c.rl.node
	switch o.kind {
	case owedJoin:
		// With a receipt: a target on another node then takes it even
		// past its mailbox's bounds, as it takes frames in flight.
		_, err := n.TrySend(c.pid, o.target, TopicJoin, o.payload)
		if err == nil {
			c.traced(TraceEvent{Kind: "join", Detail: o.target.String()}, nil)
		}
		return err
	case owedLeave:
		// Owed for a join the mailbox took: a full mailbox takes it past
		// its bounds, so the mailbox stays within twice them.
		err := n.SendOwed(c.pid, o.target, TopicLeave, o.payload)
		if err == nil {
			reason, _ := o.payload.Get("reason")
			c.traced(TraceEvent{Kind: "leave", Detail: o.target.String() + " " + reason.String()}, nil)
		}
		return err
	case owedNotice:
		return n.MonitorNotice(c.pid, o.target, TopicLeave, o.payload)
	case owedMonitor:
		// A dead target gives EXIT noproc at once: the connection closes
		// as if the target had failed.
		return o.proc.Monitor(o.target)
	case owedCancel:
		_ = n.Cancel(c.pid, o.target, o.reason)
	}
	return nil
}

// refusedForRoom reports whether err is a send refused for a full mailbox
// or a full queue toward the target's node: it is tried again once there
// is room.
func refusedForRoom(err error) bool {
	return errors.Is(err, process.ErrBacklog) || errors.Is(err, process.ErrMailboxFull)
}

// hurried reports whether the relay's Shutdown has run out of time.
func (c *conn) hurried() bool {
	select {
	case <-c.rl.hurry:
		return true
	default:
		return false
	}
}

// drainOwed sends what is owed, in order, until the queue is empty or a
// send is refused for room; then waitOwed waits for room (the refusal is
// the server holding the client back: holdBegin). It never waits. It
// returns the first item that failed for another reason, with what was
// behind it dropped; a failure while the connection is ending is only
// logged. Run by the owner.
func (c *conn) drainOwed() *owedFailure {
	var failed *owedFailure
	for len(c.owed) > 0 {
		o := c.owed[0]
		err := c.sendOwed(o)
		if (o.kind == owedMonitor || o.kind == owedNotice) && errors.Is(err, process.ErrNoProc) {
			// The connection's process has ended (it was terminated): it
			// watches nothing more. Its leave, if owed, follows.
			err = nil
		}
		if refusedForRoom(err) {
			if !c.hurried() {
				if !c.owedHeld {
					c.holdBegin()
					c.owedHeld = true
				}
				if !c.owedWaiting {
					c.owedWaiting = true
					c.rl.waiters.add()
					go c.waitOwed(c.rl.node.MailboxRoom(o.target, 0), c.owedClear)
				}
				return nil
			}
			// Shutdown ran out of time: what is owed is given up, but an
			// owned target's cancel, which never waits.
			c.dropped(c.owed...)
			for _, o := range c.owed {
				if o.kind == owedCancel {
					_ = c.sendOwed(o)
					continue
				}
				c.rl.clientLog.Warn("cannot send to the relay target", "client", c.pid.String(), "target", o.target.String(), "topic", o.topic(), "error", err.Error())
			}
			c.clearOwed()
			break
		}
		c.owed[0] = owed{}
		c.owed = c.owed[1:]
		if err != nil {
			c.dropped(o)
			c.dropped(c.owed...) // what was behind it goes with it
			if c.state >= stateClosing {
				c.rl.clientLog.Warn("cannot send to the relay target", "client", c.pid.String(), "target", o.target.String(), "topic", o.topic(), "error", err.Error())
			} else {
				failed = &owedFailure{topic: o.topic(), target: o.target, err: err}
			}
			c.clearOwed()
			break
		}
		if o.kind == owedJoin && c.state == stateOpening {
			c.setState(stateOpen)
		}
	}
	if len(c.owed) == 0 {
		c.clearOwed()
	}
	return failed
}

// dropped notes owed items that will not be sent: a join dropped is owed
// no leave. Run by the owner.
func (c *conn) dropped(items ...owed) {
	for _, o := range items {
		if o.kind == owedJoin && o.target == c.target {
			c.joined = false
		}
	}
}

// clearOwed empties the owed queue and lets go of what waited on it;
// run by the owner.
func (c *conn) clearOwed() {
	clear(c.owed)
	c.owed = nil
	if c.owedClear != nil {
		close(c.owedClear) // a reader waiting to relay a frame looks again
		c.owedClear = nil
	}
	if c.owedHeld {
		c.owedHeld = false
		c.holdEnd()
	}
	if c.state == stateClosing {
		c.closedIfDone()
	}
}

// waitOwed waits, with no lock held, for room toward the target at the
// head of the owed queue (or for the queue to be drained by another, or
// for Shutdown to run out of time), then posts a drain to the owner,
// which starts the next wait if the queue is refused again. One waits per
// connection at most (c.owedWaiting); the relay's Shutdown waits for it
// and for the drain it posted (Relay.waiters: the drain counts it off).
func (c *conn) waitOwed(room, cleared <-chan struct{}) {
	select {
	case <-room:
	case <-cleared:
	case <-c.rl.hurry:
	}
	c.own.do(func(bool) {
		defer c.rl.waiters.done()
		c.owedWaiting = false
		if failed := c.drainOwed(); failed != nil {
			c.lost(failed.topic, failed.target, failed.err)
		}
	})
}
