package luart

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The scheduler of Lua processes (docs/decisions/0004-lua-scheduler.md).
//
// A Lua process is a step function: its body runs as a gopher-lua
// coroutine (task.co) that a worker resumes. When the code waits (receive,
// channel.select, time.sleep) the Go function that waits yields the
// coroutine, the worker goes on with another process, and the process holds
// no goroutine until its event wakes it (task.wake, called by the process's
// queues, its channels and its timers). A busy script is preempted every
// cpuTurn checks of 1,024 instructions and goes to the back of the queue.
//
// Workers: at most n goroutines take steps from one FIFO run queue. A
// worker is started when a step is queued and fewer than n are running;
// it waits idleLinger for more when the queue is empty (a wake then hands
// it the step instead of starting a goroutine), and ends after that, so
// an idle runtime holds no goroutine (and needs no Close). A step that must wait in place (a wait
// inside pcall, a user coroutine, a metamethod: see state.await) leaves
// the pool while it waits (block): another worker is started if steps are
// queued, and the waiting goroutine ends once its step is over if the pool
// is full again. So a waiting step never stops the others.
//
// A step may also block in Go code that does not say so (a call that
// waits on the network, a wait for a CPU slot). While steps are queued and
// every worker is busy, a timer checks the workers every stallAfter: one
// whose step has run that long leaves the pool as in block, and another
// worker is started. The stalled one ends when its step does.

// stallAfter is how long a step may hold a worker while others are
// queued before the pool starts another worker.
const stallAfter = 10 * time.Millisecond

// idleLinger is how long a worker with nothing to do waits for a step
// before it ends.
const idleLinger = 20 * time.Millisecond

// worker is one goroutine of the pool.
type worker struct {
	linger *time.Timer

	since    atomic.Int64 // when its current step began (UnixNano); 0 between steps
	detached bool         // out of the pool (stalled): it ends after its step; guarded by scheduler.mu
}

// scheduler is a run queue of tasks and the workers that run them.
type scheduler struct {
	n int // workers at most (not counting those blocked in a wait)

	mu      sync.Mutex
	ring    []*task // FIFO; len is zero or a power of two
	head    int
	count   int
	active  int           // worker goroutines not blocked in a wait, idle ones included
	idle    int           // workers waiting for a step, not yet handed one
	handoff chan struct{} // one token per idle worker handed a step; capacity n
	workers map[*worker]struct{}
	armed   bool // the stall timer is pending
}

func newScheduler(workers int) *scheduler {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &scheduler{n: workers, workers: map[*worker]struct{}{}, handoff: make(chan struct{}, workers)}
}

// enqueue queues t's next step.
func (sc *scheduler) enqueue(t *task) {
	sc.mu.Lock()
	if sc.count == len(sc.ring) {
		sc.grow()
	}
	sc.ring[(sc.head+sc.count)&(len(sc.ring)-1)] = t
	sc.count++
	start := false
	if sc.idle > 0 {
		sc.idle--
		sc.handoff <- struct{}{} // never blocks: at most n workers idle
	} else if start = sc.active < sc.n; start {
		sc.active++
	}
	arm := !start && sc.idle == 0 && !sc.armed
	if arm {
		sc.armed = true
	}
	sc.mu.Unlock()
	if start {
		go sc.work()
	}
	if arm {
		time.AfterFunc(stallAfter, sc.checkStalls)
	}
}

// checkStalls detaches the workers whose step has run past stallAfter and
// starts as many, while steps are queued.
func (sc *scheduler) checkStalls() {
	now := time.Now().UnixNano()
	sc.mu.Lock()
	starts := 0
	for w := range sc.workers {
		if since := w.since.Load(); since != 0 && now-since >= int64(stallAfter) && sc.count > starts {
			w.detached = true
			delete(sc.workers, w)
			starts++ // active stays: the new worker takes the stalled one's place
		}
	}
	sc.armed = sc.count > 0
	rearm := sc.armed
	sc.mu.Unlock()
	for range starts {
		go sc.work()
	}
	if rearm {
		time.AfterFunc(stallAfter, sc.checkStalls)
	}
}

func (sc *scheduler) grow() {
	size := max(16, 2*len(sc.ring))
	nr := make([]*task, size)
	for i := range sc.count {
		nr[i] = sc.ring[(sc.head+i)&(len(sc.ring)-1)]
	}
	sc.ring, sc.head = nr, 0
}

// next takes the oldest queued task; nil tells the calling worker to end
// (nothing queued, the pool has more workers than n, or w was detached).
func (sc *scheduler) next(w *worker) *task {
	w.since.Store(0)
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if w.detached {
		return nil // its place was taken when it was detached
	}
	if sc.count == 0 && sc.active <= sc.n {
		sc.waitIdle(w)
	}
	if sc.count == 0 || sc.active > sc.n {
		sc.active--
		delete(sc.workers, w)
		if sc.count == 0 && len(sc.ring) > 64 {
			sc.ring, sc.head = nil, 0 // give back the memory of a burst
		}
		return nil
	}
	t := sc.ring[sc.head]
	sc.ring[sc.head] = nil
	sc.head = (sc.head + 1) & (len(sc.ring) - 1)
	sc.count--
	w.since.Store(time.Now().UnixNano())
	return t
}

// waitIdle waits, with sc.mu released, until a step is handed to w or
// idleLinger passes. An enqueue that saw w idle sent a token; if the timer
// fired first but w was counted as handed a step (idle already taken
// down), w takes its token, which is sent under the lock it holds.
func (sc *scheduler) waitIdle(w *worker) {
	sc.idle++
	sc.mu.Unlock()
	if w.linger == nil {
		w.linger = time.NewTimer(idleLinger)
	} else {
		w.linger.Reset(idleLinger)
	}
	select {
	case <-sc.handoff:
		w.linger.Stop()
		sc.mu.Lock()
	case <-w.linger.C:
		sc.mu.Lock()
		if sc.idle > 0 {
			sc.idle-- // nobody handed it a step: it ends
		} else {
			<-sc.handoff
		}
	}
}

func (sc *scheduler) work() {
	w := &worker{}
	sc.mu.Lock()
	sc.workers[w] = struct{}{}
	sc.mu.Unlock()
	for {
		t := sc.next(w)
		if t == nil {
			return
		}
		t.run()
	}
}

// block takes the calling worker out of the pool while its step waits in
// place, starting another if steps are queued; unblock puts it back.
func (sc *scheduler) block() {
	sc.mu.Lock()
	sc.active--
	start := sc.count > 0 && sc.active < sc.n
	if start {
		sc.active++
	}
	sc.mu.Unlock()
	if start {
		go sc.work()
	}
}

func (sc *scheduler) unblock() {
	sc.mu.Lock()
	sc.active++
	sc.mu.Unlock()
}
