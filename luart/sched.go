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
// worker is started when a step is queued and fewer than n are running,
// and it ends when the queue is empty, so an idle runtime holds no
// goroutine (and needs no Close). A step that must wait in place (a wait
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

// worker is one goroutine of the pool.
type worker struct {
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
	active  int // worker goroutines not blocked in a wait
	workers map[*worker]struct{}
	armed   bool // the stall timer is pending
}

func newScheduler(workers int) *scheduler {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &scheduler{n: workers, workers: map[*worker]struct{}{}}
}

// enqueue queues t's next step.
func (sc *scheduler) enqueue(t *task) {
	sc.mu.Lock()
	if sc.count == len(sc.ring) {
		sc.grow()
	}
	sc.ring[(sc.head+sc.count)&(len(sc.ring)-1)] = t
	sc.count++
	start := sc.active < sc.n
	if start {
		sc.active++
	}
	arm := !start && !sc.armed
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
	sc.mu.Unlock()
	for range starts {
		go sc.work()
	}
	if sc.armed {
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
