package wsrelay

import "sync"

// owner runs a connection's events one at a time, in the order they were
// posted: it owns the connection's state (the fields of conn that say
// "owner's"). The reader, the timers and the writers post events to it
// (do), and the connection's process posts its own and waits until they
// have run (conn.call), instead of taking a lock over that state:
//
//   - do never waits: when no event runs, the poster runs its own event on
//     its own goroutine at once (the fast path: no hand-off, no goroutine
//     started, a round trip pays two short critical sections of mu), then
//     whatever was posted meanwhile; when one runs, the event is queued
//     and the goroutine running events runs it before it stops.
//   - an event never waits either (on a channel, for room, on the
//     network): what must wait (the reader held back, what is owed waiting
//     for room) waits outside, with no lock held, and posts again. So an
//     event queued behind others runs within the time they take, and
//     nobody waits while holding a lock (mu is held only to queue or take
//     one event, never while one runs).
//
// Why no event is lost, and events run alone and in order: running and
// q change only under mu. A poster that finds running false sets it and
// runs; one that finds it true appends to q. The runner takes events
// from q under mu, and clears running only under the same hold of mu in
// which it finds q empty. So an event appended while running is true was
// appended before that last look (mu orders the two) and is run by the
// runner; an event posted after it finds running false and is run by its
// poster: none is left in q with nobody to run it. Only the goroutine
// that set running runs events, until it clears it: one at a time. q is
// first in, first out, and a poster runs its own event only after what q
// held when it set running: events run in the order their posts took mu.
// An event that panics lets go of running (the panic goes on up its
// poster's goroutine, whose recovery ends the connection with a post of
// its own); what it left in q runs first at the next post.
type owner struct {
	mu      sync.Mutex
	running bool
	q       []func(here bool) // posted while one ran; nil when none waits
}

// do runs fn as the connection's owner: at once on this goroutine when
// no event runs (fn(true), and do returns true once fn and what was
// posted meanwhile have run), or later on the goroutine running events
// (fn(false); do returns false at once).
func (o *owner) do(fn func(here bool)) bool {
	o.mu.Lock()
	if o.running {
		o.q = append(o.q, fn)
		o.mu.Unlock()
		return false
	}
	o.running = true
	left := len(o.q) > 0 // left by an event that panicked: they go first
	o.mu.Unlock()
	done := false
	defer func() {
		if !done { // an event panicked
			o.mu.Lock()
			o.running = false
			o.mu.Unlock()
		}
	}()
	if left {
		o.runQueued(false)
	}
	fn(true)
	o.runQueued(true)
	done = true
	return true
}

// runQueued runs the queued events until none is left; release: and
// lets go of running then.
func (o *owner) runQueued(release bool) {
	for {
		o.mu.Lock()
		if len(o.q) == 0 {
			if release {
				o.running, o.q = false, nil
			}
			o.mu.Unlock()
			return
		}
		next := o.q[0]
		o.q[0] = nil
		o.q = o.q[1:]
		o.mu.Unlock()
		next(false)
	}
}
