package process

import "sync"

// queue is a FIFO with an optional bound, guarded by a mutex, with a 1-slot
// signal channel that a consumer waits on (the nats-server ipqueue pattern).
// Its ring buffer grows on demand and is released when drained, so an idle
// queue holds no buffer.
type queue[T any] struct {
	mu     sync.Mutex
	buf    []T // ring; len(buf) is zero or a power of two
	head   int
	n      int
	max    int           // 0: unbounded
	closed bool          // no more pushes; pops drain what is left
	popped uint32        // items popped so far, wrapping (see order.go)
	signal chan struct{} // nil for queues consumed by scheduling
}

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
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return pushClosed
	}
	if limit > 0 && q.n >= limit {
		q.mu.Unlock()
		return pushFull
	}
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)&(len(q.buf)-1)] = v
	q.n++
	q.wake()
	q.mu.Unlock()
	return pushed
}

func (q *queue[T]) grow() {
	size := 2 * len(q.buf)
	if size == 0 {
		size = 4
	}
	nb := make([]T, size)
	for i := 0; i < q.n; i++ {
		nb[i] = q.buf[(q.head+i)&(len(q.buf)-1)]
	}
	q.buf, q.head = nb, 0
}

// wake signals the consumer; called with q.mu held.
func (q *queue[T]) wake() {
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
	q.popped++
	if q.n == 0 {
		q.head = 0
		if len(q.buf) > 64 {
			q.buf = nil // give back the memory of a burst
		}
	}
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
		q.buf, q.head, q.n = nil, 0, 0
	}
	if !q.closed {
		q.closed = true
		if q.signal != nil {
			close(q.signal) // wakes every waiter, now and later
		}
	}
	return dropped
}

func (q *queue[T]) len() int {
	q.mu.Lock()
	n := q.n
	q.mu.Unlock()
	return n
}
