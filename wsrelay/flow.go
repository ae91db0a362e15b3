package wsrelay

import (
	"time"

	"github.com/wsrelay/wsrelay/process"
)

// Flow control, in the words of docs/relay.md ("Backpressure and slow
// clients"), each for one thing:
//
//   - in flight: the client's frames sent to its target that the target
//     has not taken from its mailbox yet (flow.inFlight; a frame's
//     process.Receipt says when it is taken);
//   - room: the target's mailbox, or the queue toward its node, taking
//     one more message (process.Node.MailboxRoom; a send refused for
//     lack of it fails with process.ErrMailboxFull or ErrBacklog);
//   - owed: the joins, leaves and watches a connection owes its targets,
//     in order (owed.go);
//   - waiting: what waits to be written to the client (outbox.go);
//   - inbound budget: the bytes of large frames being received, shared
//     by the node's connections (budget.go).
//
// A client is held back (its reader waits, and reads nothing more) while
// its frames in flight, or what is waiting for it, reach their budgets,
// while its target has no room, while something is owed, or while its
// large frame waits for the inbound budget (heldBack, frameIn,
// budgetWait); the time it is held back does not count against it
// (holdBegin).

// flow is a connection's flow control state, the connection owner's.
type flow struct {
	inFlight      []flight // the client's frames its target has not taken, oldest first, from head on
	head          int
	inFlightBytes int
	largest       int // the largest frame the client has sent

	// The server holding the client back: how many holds are under way
	// (a reader held back, a wait for the inbound budget, something
	// owed waiting for room), and since when.
	holds     int
	heldSince int64 // unix nanoseconds
}

// flight is a frame in the target's mailbox.
type flight struct {
	r process.Receipt
	n int // payload bytes
}

// sent records a frame of n bytes sent to the target with receipt r.
func (f *flow) sent(r process.Receipt, n int) {
	f.largest = max(f.largest, n)
	if !r.Taken() {
		f.inFlight = append(f.inFlight, flight{r: r, n: n})
		f.inFlightBytes += n
	}
}

// settle drops the frames the target has taken (it takes them in order)
// and returns how many are still in flight; the oldest is
// f.inFlight[f.head].
func (f *flow) settle() int {
	h := f.head
	for h < len(f.inFlight) && f.inFlight[h].r.Taken() {
		f.inFlightBytes -= f.inFlight[h].n
		f.inFlight[h] = flight{}
		h++
	}
	switch {
	case h == len(f.inFlight):
		f.inFlight, h = f.inFlight[:0], 0
	case h > 64 && h > len(f.inFlight)/2:
		k := copy(f.inFlight, f.inFlight[h:])
		clear(f.inFlight[k:])
		f.inFlight, h = f.inFlight[:k], 0
	}
	f.head = h
	return len(f.inFlight) - h
}

// forget drops what is in flight: the target changed, and what the old
// one has not taken no longer holds the client back.
func (f *flow) forget() {
	f.inFlight, f.head, f.inFlightBytes = nil, 0, 0
}

// pause counts a pause in reading when its cause is new for this frame
// (an empty cause is a wait too short to count).
func (c *conn) pause(cause, paused string) string {
	if cause != paused && cause != "" {
		c.rl.opts.Metrics.Paused(cause)
		return cause
	}
	return paused
}

// heldBack returns what the reader must wait for before it relays the
// next frame, and why (empty: a wait too short to count as a pause); nil
// when it may go on. Run by the owner.
//
// Why this bounds what a client can make the relay hold: let U be the
// bytes of its frames the target has not taken (F), plus what waits for
// the client in its process's mailbox and outbound queue (O). A frame is
// taken in only while F < InflightMaxBytes, O < OutboundPauseBytes and
// U < their sum (the mailbox's part of O estimated as below), so U stays
// below their sum plus one frame, plus the one message the connection's
// process may hold between its mailbox and its queue, plus the one frame
// an echoing target may hold between taking it (it leaves F) and sending
// its echo (it joins O); an echo only moves bytes from F to O, so a
// client that reads its echoes never reaches OutboundMaxBytes (at least
// the sum plus three largest frames).
func (c *conn) heldBack() (<-chan struct{}, string) {
	// What waits to be written to the client.
	if ch := c.out.roomWait(); ch != nil {
		return ch, PauseOutboundQueue
	}
	// What the target has not taken yet (it takes in order).
	f := &c.flow
	if n := f.settle(); n > 0 && (f.inFlightBytes >= c.rl.opts.InflightMaxBytes || n >= c.out.pauseFrames) {
		return f.inFlight[f.head].r.Done(), PauseTargetMailbox
	}
	// What the connection's process has received and not yet queued (it
	// does so at once): its size is known only then, so an echo of this
	// client's frames is taken to be at most as large as the largest it
	// sent.
	if mb := c.rl.node.MailboxLen(c.pid); mb > 0 {
		bytes, frames := c.out.waiting()
		if frames+mb >= c.out.pauseFrames || bytes+f.inFlightBytes+mb*f.largest >= c.rl.opts.OutboundPauseBytes+c.rl.opts.InflightMaxBytes {
			return c.rl.node.MailboxRoom(c.pid, 1), ""
		}
	}
	return nil, ""
}

// holdBegin and holdEnd bracket a time the server holds the client back:
// its reader pauses (frameIn), waits for the node's inbound budget
// (budgetWait), or a join or leave it owes waits for room in the target's
// mailbox or toward its node (owed.go). Meanwhile pingNow neither pings
// nor closes the client, and when the last hold ends the liveness clock
// moves on by its length: the last read and the ping in flight count as
// that much later. Run by the owner.
func (c *conn) holdBegin() {
	if c.flow.holds == 0 {
		c.flow.heldSince = time.Now().UnixNano()
	}
	c.flow.holds++
}

func (c *conn) holdEnd() {
	if c.flow.holds--; c.flow.holds > 0 {
		return
	}
	now := time.Now().UnixNano()
	d := now - c.flow.heldSince
	// Pings and pongs are read during some holds (only frames wait for
	// the owner): a read during the hold counts as at its end.
	c.lastRead.Store(min(c.lastRead.Load()+d, now))
	if c.pingSent != 0 {
		c.pingSent += d
	}
}

// budgetWait brackets the reader's wait for the node's inbound budget
// (the frame reader calls it); it posts the hold's begin and end to the
// owner, in that order.
func (c *conn) budgetWait(waiting bool) {
	if waiting {
		c.own.do(func(bool) { c.holdBegin() })
	} else {
		c.own.do(func(bool) { c.holdEnd() })
	}
}
