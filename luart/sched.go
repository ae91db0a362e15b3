package luart

import (
	"runtime"
	"sync"
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

// scheduler is a run queue of tasks and the workers that run them.
type scheduler struct {
	n int // workers at most (not counting those blocked in a wait)

	mu     sync.Mutex
	ring   []*task // FIFO; len is zero or a power of two
	head   int
	count  int
	active int // worker goroutines not blocked in a wait
}

func newScheduler(workers int) *scheduler {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	return &scheduler{n: workers}
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
	sc.mu.Unlock()
	if start {
		go sc.work()
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
// (nothing queued, or the pool has more workers than n).
func (sc *scheduler) next() *task {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.count == 0 || sc.active > sc.n {
		sc.active--
		if sc.count == 0 && len(sc.ring) > 64 {
			sc.ring, sc.head = nil, 0 // give back the memory of a burst
		}
		return nil
	}
	t := sc.ring[sc.head]
	sc.ring[sc.head] = nil
	sc.head = (sc.head + 1) & (len(sc.ring) - 1)
	sc.count--
	return t
}

func (sc *scheduler) work() {
	for {
		t := sc.next()
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
