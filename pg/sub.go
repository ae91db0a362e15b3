package pg

import (
	"sync"

	"github.com/wsrelay/wsrelay/pid"
)

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of event.
const (
	Joined   EventKind = iota + 1 // PIDs joined Group (a PID twice: it joined twice)
	Left                          // PIDs left Group, ended, or their node was lost
	Overflow                      // the subscription's buffer was full: it ended here, events were lost
)

func (k EventKind) String() string {
	switch k {
	case Joined:
		return "member.joined"
	case Left:
		return "member.left"
	case Overflow:
		return "overflow"
	}
	return "unknown"
}

// Event is a change of a group's members.
type Event struct {
	Kind  EventKind
	Group string
	PIDs  []pid.PID
}

// size is what an event counts against MonitorBufferBytes.
func (e Event) size() int {
	n := 64 + len(e.Group)
	for _, p := range e.PIDs {
		n += 24 + len(p.Node) + len(p.Host)
	}
	return n
}

// Subscription receives a scope's events (Scope.Monitor, Scope.Events),
// in order, until it is closed or overflows.
type Subscription struct {
	sc    *Scope
	group string
	all   bool

	mu    sync.Mutex
	q     []Event
	bytes int
	ended bool // no more events: closed, overflowed, or the service closed
	sig   chan struct{}
	wake  func() // SetWake's; called under mu
}

func newSubscription(sc *Scope, group string, all bool) *Subscription {
	return &Subscription{sc: sc, group: group, all: all, sig: make(chan struct{}, 1)}
}

// push queues e; it reports false when the subscription ended (on
// overflow, after queueing Overflow past the bound: the one event the
// bound lets through, so that the reader learns of it).
func (sub *Subscription) push(e Event) bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if sub.ended {
		return false
	}
	o := sub.sc.opts
	if len(sub.q)+1 > o.MonitorBuffer || sub.bytes+e.size() > o.MonitorBufferBytes {
		sub.q = append(sub.q, Event{Kind: Overflow, Group: sub.group})
		sub.endLocked()
		return false
	}
	sub.q = append(sub.q, e)
	sub.bytes += e.size()
	select {
	case sub.sig <- struct{}{}:
	default:
	}
	if sub.wake != nil {
		sub.wake()
	}
	return true
}

func (sub *Subscription) endLocked() {
	if !sub.ended {
		sub.ended = true
		close(sub.sig)
		if sub.wake != nil {
			sub.wake()
		}
	}
}

// SetWake makes the subscription call wake whenever Next may have
// something new: an event queued, the subscription ended. It is for a
// reader that waits without a goroutine (a Lua process parked on the
// scheduler) instead of on Ready. wake is called with the subscription's
// lock held: it must not block nor call the subscription.
func (sub *Subscription) SetWake(wake func()) {
	sub.mu.Lock()
	sub.wake = wake
	sub.mu.Unlock()
}

func (sub *Subscription) end() {
	sub.mu.Lock()
	sub.endLocked()
	sub.mu.Unlock()
}

// Next takes the next event without waiting. ok reports one; closed
// reports that none will come (the subscription ended and its events
// were taken).
func (sub *Subscription) Next() (e Event, ok, closed bool) {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	if len(sub.q) == 0 {
		return Event{}, false, sub.ended
	}
	e = sub.q[0]
	sub.q[0] = Event{}
	sub.q = sub.q[1:]
	if len(sub.q) == 0 {
		sub.q = nil
	}
	if e.Kind != Overflow {
		sub.bytes -= e.size()
	}
	return e, true, false
}

// Ready is signalled when Next may have an event, and closed when the
// subscription has ended.
func (sub *Subscription) Ready() <-chan struct{} { return sub.sig }

// Close ends the subscription and drops the events it holds. Closing
// again does nothing.
func (sub *Subscription) Close() {
	sub.sc.mu.Lock()
	sub.sc.unsubscribeLocked(sub)
	sub.sc.mu.Unlock()
	sub.mu.Lock()
	sub.q, sub.bytes = nil, 0
	sub.endLocked()
	sub.mu.Unlock()
}

// Group returns the group monitored; "" for Events.
func (sub *Subscription) Group() string { return sub.group }

// End ends the subscription but keeps the events it holds for Next.
// Ending again, or closing, does nothing more.
func (sub *Subscription) End() {
	sub.sc.mu.Lock()
	sub.sc.unsubscribeLocked(sub)
	sub.sc.mu.Unlock()
	sub.end()
}

// Ended reports whether the subscription takes no more events (closed,
// ended or overflowed).
func (sub *Subscription) Ended() bool {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.ended
}
