package luart

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/value"
)

// coroutine.spawn(fn, ...): a coroutine that runs concurrently with the
// body of its Lua process, on the process's own scheduler turns.
//
// The call returns at once; fn(...) starts when the code that spawned it
// next waits or is preempted, and runs until it waits (receive, select,
// sleep, a send on a full channel), is preempted or returns. Every wait
// that parks a process body parks a spawned coroutine the same way, so it
// may receive from the inbox, the events, channels and timers of its
// process. Its return values are dropped. An error it does not catch ends
// the process with that error, as one in the body does (a monitor or a
// link sees it). When the body returns, the process ends with the body's
// result and its spawned coroutines end with it, wherever they wait.
//
// Bounds. Spawned coroutines share their process's state, so its memory
// budget counts them (each is charged for its stacks when made) and its
// instruction count and CPU turns are the process's; each has its own
// Lua call stack of Options.CallStackSize frames, and the Go-stack bound
// of the fork (depth.go) holds for the thread that resumes it. A process
// has at most maxSpawned live ones: one more is an error in the spawning
// code. One step of the process resumes each ready coroutine at most
// once (task.runSpawned), so a step costs at most maxSpawned+1 resumes,
// and it ends early once its coroutines have run a turn's instructions
// (cpuTurn checks), so that they take no more CPU at once than a body.

// maxSpawned is how many spawned coroutines a process may have at once.
const maxSpawned = 1000

// spawned is one coroutine of coroutine.spawn.
type spawned struct {
	co   *lua.LState
	fn   *lua.LFunction // until its first resume
	args []lua.LValue   // its arguments, likewise
	// wait is what it waits for, as task.wait is for the body: nil when
	// it is ready to run (just spawned, or preempted).
	wait func() ([]lua.LValue, bool)
	done bool // returned: removed at the end of the round
}

// spawnSet is a task's spawned coroutines. Only the task's step touches
// it (and coroutine.spawn, which runs within a step).
type spawnSet struct {
	list []*spawned
	live int // those of list that have not returned
	next int // where the next round starts: every coroutine has its turn
	// bodyNext is set when a spawned coroutine was preempted: the next
	// step resumes the body first, so that busy spawned coroutines cannot
	// keep it from running.
	bodyNext bool
}

// coroutineSpawn is coroutine.spawn(fn, ...).
func (s *state) coroutineSpawn(L *lua.LState) int {
	const fn = "coroutine.spawn"
	f, ok := L.Get(1).(*lua.LFunction)
	if !ok {
		argError(L, 1, fn, "function", "must be a function, got "+describe(L.Get(1)))
	}
	t := s.task
	if t == nil {
		L.RaiseError("%s: only a process runs spawned coroutines, and this code is a function.lua handler; spawn a process for the concurrent work", fn)
	}
	if t.spawned == nil {
		t.spawned = &spawnSet{}
	}
	ss := t.spawned
	if ss.live >= maxSpawned {
		L.RaiseError("%s: this process already has %d spawned coroutines, the most it may have; let some of them return first", fn, ss.live)
	}
	co, _ := s.L.NewThread() // shares the state's budget (see the fork's NewThread)
	co.KeepTracebacks()
	var args []lua.LValue
	if n := L.GetTop(); n > 1 {
		args = make([]lua.LValue, 0, n-1)
		for i := 2; i <= n; i++ {
			args = append(args, L.Get(i))
		}
	}
	ss.list = append(ss.list, &spawned{co: co, fn: f, args: args})
	ss.live++
	t.wake() // the task is running: it takes another step before it parks
	return 0
}

// runSpawned is the part of a step that runs the spawned coroutines: it
// resumes each one whose wait is over (or that is ready) once, starting
// after the one that ran last. It returns stop with the step's result
// when the step must end here: a coroutine failed (the process ended),
// was preempted, or parked for a CPU slot. Otherwise the step goes on
// with the body.
//
// While a spawned coroutine runs, t.co and t.wait are its own, so that
// everything that asks whether the code may yield (task.canYield,
// state.await, state.preempt, the CPU slots) treats it as it treats the
// body; they are the body's again when runSpawned returns.
func (t *task) runSpawned() (res stepResult, stop bool) {
	ss := t.spawned
	if ss == nil || len(ss.list) == 0 {
		return 0, false
	}
	if ss.bodyNext {
		ss.bodyNext = false
		t.wake() // the spawned ones have their turn in the next step
		return 0, false
	}
	s := t.s
	lm := s.L.Limits()
	var steps0 int64
	if lm != nil {
		_, steps0 = lm.Usage()
	}
	bodyCo, bodyWait := t.co, t.wait
	defer func() { t.co, t.wait = bodyCo, bodyWait }()
	n := len(ss.list) // those spawned during the round run in the next one
	last := -1
	defer func() { ss.compact(last) }()
	for k := range n {
		if ended(t.p) { // a coroutine ended it (process.terminate of itself, say)
			t.finish(value.Nil(), nil)
			return stepDone, true
		}
		i := (ss.next + k) % n
		sp := ss.list[i]
		if sp.done {
			continue
		}
		vals := sp.args
		if sp.wait != nil {
			v, ok := sp.wait()
			if !ok {
				continue
			}
			vals = v
		}
		fn := sp.fn
		sp.fn, sp.args, sp.wait = nil, nil, nil
		last = i
		t.co, t.wait = sp.co, nil
		st, err, _ := s.L.Resume(sp.co, fn, vals...)
		sp.wait = t.wait
		switch st {
		case lua.ResumeYield:
			if s.needSlot { // preempted for want of a CPU slot, as the body is in step
				s.needSlot = false
				sp.wait = s.takeSlot
				if _, ok := s.takeSlot(); !ok {
					return stepParked, true
				}
				sp.wait = nil
			}
			if sp.wait == nil { // preempted
				ss.bodyNext = true
				return stepPreempted, true
			}
			// A wait resets the preemption count (state.await), so a
			// round of coroutines that each compute a little and wait
			// is bounded here: past one turn's instructions, the step
			// ends and the others run in the next (after the body).
			if lm != nil {
				if _, steps := lm.Usage(); steps-steps0 >= cpuTurn*int64(lm.InterruptEvery) {
					ss.bodyNext = true
					return stepPreempted, true
				}
			}
		case lua.ResumeError:
			t.finish(value.Nil(), fmt.Errorf("a coroutine it spawned failed: %w", luaError(err)))
			return stepDone, true
		default:
			sp.done = true
			ss.live--
		}
	}
	if ended(t.p) {
		t.finish(value.Nil(), nil)
		return stepDone, true
	}
	return 0, false
}

// compact drops the coroutines that returned, and sets where the next
// round starts: after last, the one that ran last (-1: none ran).
func (ss *spawnSet) compact(last int) {
	if last < 0 {
		return
	}
	size := len(ss.list)
	next, j := 0, 0
	for i, sp := range ss.list {
		if i == last+1 {
			next = j
		}
		if !sp.done {
			ss.list[j] = sp
			j++
		}
	}
	clear(ss.list[j:])
	ss.list = ss.list[:j]
	if last+1 >= size || next >= j {
		next = 0
	}
	ss.next = next
}
