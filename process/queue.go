package process

import (
	"container/heap"
	"sync"
	"sync/atomic"
)

// queue is a FIFO with an optional bound, guarded by a mutex, with a 1-slot
// signal channel that a consumer waits on (the nats-server ipqueue pattern).
// Its ring buffer grows on demand and is released when drained, so an idle
// queue holds no buffer.
type queue[T any] struct {
	mu     sync.Mutex
	buf    []T // ring; len(buf) is zero or a power of two
	head   int
	n      int
	max    int  // 0: unbounded
	closed bool // no more pushes; pops drain what is left
	// With weigh set, the queue also counts the bytes of its items, and a
	// bounded push fails when they would pass maxBytes, unless they are at
	// half of it or less: so an item of any size gets in once the queue
	// is down to half, which is when roomBelow wakes a waiting sender.
	weigh    func(T) int
	bytes    int
	maxBytes int
	regrow   int32         // the ring's first size after a release: half the released one (in closed's padding)
	signal   chan struct{} // nil for queues consumed by scheduling
	notify   func()        // a scheduled process's wake (SpawnScheduled); called with mu held

	// Waiting senders (see roomBelow and takenAt). Both cost nothing to a
	// queue nobody waits on: one nil check and one length check per pop.
	out    atomic.Uint64 // items that have left (popped or dropped), ever; written under mu
	room   chan struct{} // closed once n <= roomAt; nil while nobody waits
	roomAt int
	takers takers // waiters for an item to leave, soonest first
}

// closedChan is a channel that is always closed: a wait that is already
// over returns it. It is never written.
var closedChan = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

type pushResult uint8

const (
	pushed pushResult = iota
	pushFull
	pushClosed
)

func (q *queue[T]) init(max int, withSignal bool) {
	q.max = max
	if withSignal {
		q.signal = make(chan struct{}, 1)
	}
}

// push appends v unless the queue is closed or, when !force, full.
func (q *queue[T]) push(v T, force bool) pushResult {
	if force {
		return q.pushWithin(v, 0)
	}
	return q.pushWithin(v, q.max)
}

// pushWithin appends v unless the queue is closed or holds limit items
// (0: no limit).
func (q *queue[T]) pushWithin(v T, limit int) pushResult {
	r, _ := q.pushAt(v, limit)
	return r
}

// pushAt is pushWithin that also returns the position v took: v has left
// the queue once takenAt(pos) is closed.
func (q *queue[T]) pushAt(v T, limit int) (pushResult, uint64) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return pushClosed, 0
	}
	if limit > 0 && q.n >= limit {
		q.mu.Unlock()
		return pushFull, 0
	}
	if q.weigh != nil {
		w := q.weigh(v)
		if limit > 0 && q.bytes+w > q.maxBytes && !q.bytesRoom() {
			q.mu.Unlock()
			return pushFull, 0
		}
		q.bytes += w
	}
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = v
	pos := q.out.Load() + uint64(q.n)
	q.n++
	q.wake()
	q.mu.Unlock()
	return pushed, pos
}

func (q *queue[T]) grow() {
	size := 2 * len(q.buf)
	if size == 0 {
		// A queue that took a burst is likely to take another: start near
		// its size instead of doubling up to it again. regrow halves at
		// each release, so a queue whose bursts shrink soon starts small.
		size = max(4, int(q.regrow))
	}
	nb := make([]T, size)
	for i := 0; i < q.n; i++ {
		nb[i] = q.buf[(q.head+i)&(len(q.buf)-1)]
	}
	q.buf, q.head = nb, 0
}

// wake signals the consumer; called with q.mu held.
func (q *queue[T]) wake() {
	if q.notify != nil {
		q.notify()
	}
	if q.signal != nil {
		select {
		case q.signal <- struct{}{}:
		default:
		}
	}
}

// pop removes the oldest item. ok is false when the queue is empty; closed
// then says whether it will stay empty.
func (q *queue[T]) pop() (v T, ok, closed bool) {
	q.mu.Lock()
	if q.n == 0 {
		closed = q.closed
		q.mu.Unlock()
		return v, false, closed
	}
	var zero T
	i := q.head
	v = q.buf[i]
	q.buf[i] = zero
	q.head = (i + 1) & (len(q.buf) - 1)
	q.n--
	q.out.Add(1)
	if q.weigh != nil {
		q.bytes -= q.weigh(v)
	}
	if q.n == 0 {
		q.head = 0
		if len(q.buf) > 64 {
			q.buf, q.regrow = nil, int32(min(len(q.buf)/2, 1<<30)) // give back the memory of a burst
		}
	}
	q.wakeSenders()
	q.mu.Unlock()
	return v, true, false
}

// close stops pushes; items already queued can still be popped. drop also
// discards them and reports how many there were.
func (q *queue[T]) close(drop bool) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	dropped := 0
	if drop {
		dropped = q.n
		q.buf, q.head, q.n, q.bytes = nil, 0, 0, 0
		q.out.Add(uint64(dropped))
	}
	if !q.closed {
		q.closed = true
		if q.signal != nil {
			close(q.signal) // wakes every waiter, now and later
		}
		if q.notify != nil {
			q.notify()
		}
	}
	q.wakeSenders()
	return dropped
}

// roomBelow returns a channel that is closed once the queue holds fewer
// than below items, and with weigh set no more than half its maxBytes, or
// is closed to pushes (a push then fails at once, so there is nothing to
// wait for). Waiters with different bounds share one channel, woken at the
// highest bound: a waiter re-checks when woken.
func (q *queue[T]) roomBelow(below int) <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || (q.n < below && q.bytesRoom()) {
		return closedChan
	}
	if q.room == nil {
		q.room, q.roomAt = make(chan struct{}), below-1
	} else {
		q.roomAt = max(q.roomAt, below-1)
	}
	return q.room
}

// takenAt returns a channel that is closed once the item pushed at pos
// has left the queue: popped, or dropped when the queue was closed.
func (q *queue[T]) takenAt(pos uint64) <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.out.Load() > pos {
		return closedChan
	}
	ch := make(chan struct{})
	heap.Push(&q.takers, taker{pos: pos, ch: ch})
	return ch
}

// isTaken reports whether the item pushed at pos has left the queue.
func (q *queue[T]) isTaken(pos uint64) bool { return q.out.Load() > pos }

// wakeSenders wakes the senders whose wait is over; q.mu is held.
func (q *queue[T]) wakeSenders() {
	if q.room != nil && (q.closed || (q.n <= q.roomAt && q.bytesRoom())) {
		close(q.room)
		q.room = nil
	}
	for len(q.takers) > 0 && q.takers[0].pos < q.out.Load() {
		if t := heap.Pop(&q.takers).(taker); t.ack != nil {
			t.ack.fire()
		} else {
			close(t.ch)
		}
	}
}

// bytesRoom reports whether the queue's bytes leave room for a waiting
// sender: half its maxBytes or less, so that many waiting senders go at
// once rather than one per item taken. q.mu is held.
func (q *queue[T]) bytesRoom() bool { return q.weigh == nil || q.bytes <= q.maxBytes/2 }

// taker waits for the item at pos to leave its queue: ch is closed, or
// ack (a message from another node with a receipt, receipt.go) fires.
type taker struct {
	pos uint64
	ch  chan struct{}
	ack *ackReq
}

// takers is a min-heap of takers by position (container/heap).
type takers []taker

func (h takers) Len() int           { return len(h) }
func (h takers) Less(i, j int) bool { return h[i].pos < h[j].pos }
func (h takers) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *takers) Push(x any)        { *h = append(*h, x.(taker)) }
func (h *takers) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = taker{}
	*h = old[:len(old)-1]
	return t
}

func (q *queue[T]) len() int {
	q.mu.Lock()
	n := q.n
	q.mu.Unlock()
	return n
}

func (q *queue[T]) byteLen() int {
	q.mu.Lock()
	b := q.bytes
	q.mu.Unlock()
	return b
}
