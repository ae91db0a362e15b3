package wsrelay

import (
	"sync"
	"sync/atomic"
)

// Budget bounds the bytes of client frames that relays hold back while
// the frames arrive (see Options.InboundBudget). One Budget is meant to
// be shared by every relay of a node: the gateway gives all the
// websocket_relay routes of an app the same one. It is safe for
// concurrent use.
//
// A frame the relay holds back takes its announced payload length from
// the budget before any more of it is read, and gives it back when it has
// been handed on whole. A frame that does not fit waits, without reading,
// until enough is given back (the client is then pushed back by TCP); a
// frame larger than the whole budget is let through when nothing else
// holds any. Taking the announced size (and not the bytes so far) is what
// keeps two half-received frames from waiting on each other forever.
// The memory itself is allocated only as the bytes arrive.
//
// A fragmented message takes the most it may grow to (the relay's
// MaxMessageSize) with its first fragment, since its length is not
// announced, and gives it back when it is whole: taken all at once, two
// messages never wait on each other either. An inflated
// (permessage-deflate) message over 4 KiB takes its size too, until its
// target has taken it.
type Budget struct {
	mu    sync.Mutex
	limit int64 // 0: DefaultInboundBudget
	used  int64
	waits int           // connections waiting for room
	wake  chan struct{} // closed, and replaced, when bytes are given back
}

// NewBudget returns a budget of limit bytes; limit 0 means
// DefaultInboundBudget until a relay raises it (Options.InboundBudgetSize).
func NewBudget(limit int64) *Budget {
	return &Budget{limit: max(limit, 0), wake: make(chan struct{})}
}

// Limit returns the budget in bytes.
func (b *Budget) Limit() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.limitLocked()
}

func (b *Budget) limitLocked() int64 {
	if b.limit == 0 {
		return DefaultInboundBudget
	}
	return b.limit
}

// InUse returns the bytes taken by frames being received.
func (b *Budget) InUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// raise makes the budget at least n bytes: when several relays set a
// size, the largest wins.
func (b *Budget) raise(n int64) {
	b.mu.Lock()
	if n > b.limit {
		b.limit = n
		b.wakeLocked()
	}
	b.mu.Unlock()
}

// acquire takes n bytes, waiting until they fit. It returns false, having
// taken nothing, once ended is set (and wakeAll called).
func (b *Budget) acquire(n int64, ended *atomic.Bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		if ended.Load() {
			return false
		}
		if b.takeLocked(n) {
			return true
		}
		wake := b.wake
		b.waits++
		b.mu.Unlock()
		<-wake
		b.mu.Lock()
		b.waits--
	}
}

// tryAcquire takes n bytes if they fit now; it takes nothing once ended
// is set.
func (b *Budget) tryAcquire(n int64, ended *atomic.Bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !ended.Load() && b.takeLocked(n)
}

// takeLocked takes n bytes if they fit; b.mu is held.
func (b *Budget) takeLocked(n int64) bool {
	if b.used == 0 || b.used+n <= b.limitLocked() {
		b.used += n
		return true
	}
	return false
}

// wakeAll wakes every waiter, to look again.
func (b *Budget) wakeAll() {
	b.mu.Lock()
	b.wakeLocked()
	b.mu.Unlock()
}

// wakeLocked wakes the waiters, if any (a waiter counts itself in waits
// before it lets go of mu, and takes b.wake afresh when woken); b.mu is
// held.
func (b *Budget) wakeLocked() {
	if b.waits > 0 {
		close(b.wake)
		b.wake = make(chan struct{})
	}
}

// Waiting returns how many connections wait for room: their reading is
// paused.
func (b *Budget) Waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.waits
}

// release gives back n bytes and wakes the waiters.
func (b *Budget) release(n int64) {
	if n == 0 {
		return
	}
	b.mu.Lock()
	b.used -= n
	b.wakeLocked()
	b.mu.Unlock()
}
