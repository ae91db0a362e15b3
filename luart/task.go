package luart

import (
	"fmt"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// bodyStackSize is the value stack a process's body starts with, in slots.
const bodyStackSize = 32

// task is a Lua process as the scheduler runs it (sched.go): its state,
// the coroutine its body runs in, and what it waits for.
type task struct {
	rt    *Runtime
	prog  *Program
	s     *state // nil until the first step makes it
	p     *process.Process
	sched *scheduler
	co    *lua.LState    // the body's coroutine, resumed by the workers
	fn    *lua.LFunction // the body, until the first step starts it

	spawned *spawnSet // its coroutine.spawn coroutines (mod_coroutine.go); nil if none

	// What the first step needs to make the state and start the body.
	args      []value.Value
	ctxValues value.Value

	// wait is what the parked body waits for: it polls, and gives the
	// values to resume the body with once it is done. Nil when the body
	// was preempted (it goes on at once). Only the step touches it.
	wait func() ([]lua.LValue, bool)
	run_ atomic.Int32 // taskParked, taskQueued, taskRunning or taskWoken

	slotWaiting bool // parked for a CPU slot; guarded by Runtime.slotWaiters.mu
	finished    bool // finish ran: Process.Finish is called once

	// What observers see of its budget, as of the end of its last step
	// (Runtime.Usage): memory used and allowed, steps run.
	memUsed, memLimit, steps atomic.Int64
}

// The scheduling states of a task. wake moves parked to queued (and
// queues it) and running to woken; a step that ends parked checks that
// nothing woke it meanwhile.
const (
	taskParked int32 = iota
	taskQueued
	taskRunning
	taskWoken // running, and woken since the step began: poll again
)

// wake is called whenever the process may have something to do: a message
// or event delivered, a channel or timer of its own filled, the process
// ended. It never blocks.
func (t *task) wake() {
	for {
		switch st := t.run_.Load(); st {
		case taskParked:
			if t.run_.CompareAndSwap(taskParked, taskQueued) {
				t.sched.enqueue(t)
				return
			}
		case taskRunning:
			if t.run_.CompareAndSwap(taskRunning, taskWoken) {
				return
			}
		default:
			return
		}
	}
}

// run is one turn of the task on a worker: steps until the body parks,
// is preempted or ends.
func (t *task) run() {
	t.run_.Store(taskRunning)
	for {
		switch t.step() {
		case stepDone:
			return
		case stepPreempted:
			t.run_.Store(taskQueued)
			t.sched.enqueue(t)
			return
		}
		if t.run_.CompareAndSwap(taskRunning, taskParked) {
			return
		}
		t.run_.Store(taskRunning) // woken meanwhile: poll again
	}
}

type stepResult uint8

const (
	stepParked stepResult = iota
	stepPreempted
	stepDone
)

// step resumes the body if what it waits for is there, and says how it
// stopped.
func (t *task) step() (res stepResult) {
	defer func() {
		if v := recover(); v != nil {
			t.finish(value.Nil(), t.p.Panicked(v))
			res = stepDone
		}
	}()
	defer t.publish()
	if ended(t.p) { // terminated while parked or preempted
		t.finish(value.Nil(), nil)
		return stepDone
	}
	var vals []lua.LValue
	if t.s == nil {
		var err error
		if vals, err = t.setup(); err != nil {
			t.finish(value.Nil(), err)
			return stepDone
		}
	} else {
		if res, stop := t.runSpawned(); stop { // coroutine.spawn (mod_coroutine.go)
			return res
		}
		if t.wait != nil {
			var ok bool
			if vals, ok = t.wait(); !ok {
				return stepParked
			}
			t.wait = nil
		}
	}
	s := t.s
	fn := t.fn
	t.fn = nil
	// A step that goes on from a wait may run its first 1,024
	// instructions without a CPU slot (state.cpuCheck); one that goes on
	// from a preemption may not: it is a busy one.
	s.stepChecks = 0
	if s.busy {
		s.stepChecks = 1
	}
	st, err, rets := s.L.Resume(t.co, fn, vals...)
	s.busy = st == lua.ResumeYield && (s.needSlot || t.wait == nil)
	switch st {
	case lua.ResumeYield:
		if s.needSlot { // preempted for want of a CPU slot: park until one is free
			s.needSlot = false
			t.wait = s.takeSlot
			if _, ok := s.takeSlot(); ok {
				t.wait = nil
				return stepPreempted
			}
			return stepParked
		}
		if t.wait == nil {
			return stepPreempted
		}
		return stepParked
	case lua.ResumeError:
		t.finish(value.Nil(), luaError(err))
		return stepDone
	}
	var ret lua.LValue = lua.LNil
	if len(rets) > 0 {
		ret = rets[0]
	}
	// Outside the call: no Lua error may be raised now, so the result is
	// bounded by the budget but not charged.
	v, _, cerr := convert(nil, ret, valueBound(s.L))
	if cerr != nil {
		t.finish(value.Nil(), fmt.Errorf("%s: the return value of %s cannot be a process result: %w", s.prog.id, s.prog.method, cerr))
		return stepDone
	}
	t.finish(v, nil)
	return stepDone
}

// setup makes the process's state, runs the program's chunk (on the
// state's main thread: a wait at the top level of a chunk blocks in
// place), and returns the body's arguments.
func (t *task) setup() ([]lua.LValue, error) {
	s := t.rt.newState(t.prog, t.p)
	s.ctxValues, s.task = t.ctxValues, t
	t.s = s
	s.ctx = t.p.Context()
	s.L.SetContext(s.ctx)
	fn, err := s.entry(s.G)
	if err != nil {
		return nil, err
	}
	// The main thread has run the chunk; from now on it only resumes the
	// body, which pushes no frame on it: its frame segment goes back.
	s.L.ReleaseStack()
	// The body's coroutine starts with a small value stack (gopher-lua's
	// NewState takes no fewer than 128 slots, NewThread any number): the
	// state's main thread keeps its 128 for the chunk, and a process that
	// waits with little on its stack, as most do, stays small. It grows
	// as the body needs (RegistryGrowStep, at least a quarter of its size).
	s.L.Options.RegistrySize, s.L.Options.RegistryGrowStep = bodyStackSize, bodyStackSize
	co, _ := s.L.NewThread() // shares the state's context (see the fork's NewThread)
	co.KeepTracebacks()
	t.co, t.fn = co, fn
	args := make([]lua.LValue, len(t.args))
	for i, a := range t.args {
		args[i] = toLuaFree(s.L, a)
	}
	t.args, t.ctxValues = nil, value.Nil()
	return args, nil
}

// finish ends the process with the body's result and frees its state.
func (t *task) finish(v value.Value, err error) {
	if t.finished {
		return // a panic in the first finish, recovered by step
	}
	t.finished = true
	t.rt.tasks.Delete(t.p.PID())
	defer t.p.Finish(process.Result{Value: v, Err: err})
	if t.s != nil {
		t.s.close()
		if t.s.rt.cpu != nil && len(t.s.rt.cpu) > 0 {
			// It may have been woken for a slot it will never take.
			t.s.rt.slotWaiters.wakeOne()
		}
	}
}

// canYield reports whether Go code called from L may yield the body: L is
// the body's coroutine, or a coroutine that the body resumed with
// coroutine.resume or a wrap (at any depth), running its outermost VM
// loop; no metamethod, sort comparator or other Go call of the VM in
// between, which a yield cannot cross. A pcall or xpcall is no such call:
// the fork makes it in the VM loop (third_party/gopher-lua/yield.go). A
// yield from a coroutine goes on up through each coroutine.resume to the
// worker's Resume, and the next step resumes the coroutine that yielded.
func (t *task) canYield(L *lua.LState) bool {
	return L.YieldRoot() == t.co
}

// ended reports whether p has ended (terminated, or killed by a link).
// Its end closes its queues before its context is done, and either wakes
// it: the code must not go on with what the closed queues give.
func ended(p *process.Process) bool {
	_, dead := p.Result()
	return dead
}

// isProcessBody reports whether L is the coroutine a Lua process's body
// runs in.
func isProcessBody(L *lua.LState) bool {
	t := stateOf(L).task
	return t != nil && L == t.co
}

// await is how a Go function called by Lua code waits. try polls: it
// returns the values the function returns, and whether it is done; it is
// called now and, while the code waits, whenever the process is woken.
// block waits on the calling goroutine until try may have changed, and
// returns false when the code must stop (the process ended, the handler
// timed out); op names the wait in that error.
//
// In a Lua process whose code can yield (task.canYield) the coroutine
// yields and the process holds no goroutine until try succeeds. Elsewhere
// (a handler, or a wait inside pcall, a user coroutine, a metamethod) the
// goroutine waits in place, leaving the scheduler's pool meanwhile.
// parks says whether every source of the wait wakes the task; if one does
// not (a pg subscription), the wait blocks in place too.
func (s *state) await(L *lua.LState, op string, parks bool, try func() ([]lua.LValue, bool), block func() bool) int {
	for {
		if vals, ok := try(); ok {
			for _, v := range vals {
				L.Push(v)
			}
			return len(vals)
		}
		t := s.task
		if t != nil && parks && t.canYield(L) {
			t.wait = try
			s.turns = 0
			return L.YieldToRoot()
		}
		if t != nil {
			t.sched.block()
		}
		ok := block()
		if t != nil {
			t.sched.unblock()
			if ended(t.p) {
				// Its context is done right after its queues close (no
				// wait between): once it is, pcall cannot catch the error.
				<-s.ctx.Done()
				ok = false
			}
		}
		if !ok {
			s.interrupted(L, op)
		}
	}
}

// preempt is the state's Limits.Preempt: a busy body yields to the
// scheduler every cpuTurn checks, giving back its CPU slot, when it can.
func (s *state) preempt(L *lua.LState) bool {
	t := s.task
	if t == nil || !t.canYield(L) {
		return false
	}
	if s.needSlot {
		return true // parks until a slot is free (task.step)
	}
	if s.turns++; s.turns < cpuTurn {
		return false
	}
	s.turns = 0
	s.releaseCPU()
	return true
}

// publish makes the budget's counts of the step that ends visible to
// observers. It runs on the worker that ran the step, which owns the
// state.
func (t *task) publish() {
	if t.s == nil || t.finished {
		return
	}
	if lm := t.s.L.Limits(); lm != nil {
		used, steps := lm.Usage()
		t.memUsed.Store(used)
		t.memLimit.Store(lm.MaxBytes)
		t.steps.Store(steps)
	}
}

// Usage is what a Lua process has used of its budget, as of the end of
// its last step: memory as the budget counts it (the live data last
// measured, plus what was allocated since), the budget, and the VM
// instructions and builtin steps it has run (counted in runs of
// CheckEvery).
type Usage struct {
	Memory, MemoryLimit, Steps int64
}

// Usage returns what the Lua process p has used of its budget; false when
// p is not a live Lua process of this runtime.
func (rt *Runtime) Usage(p pid.PID) (Usage, bool) {
	v, ok := rt.tasks.Load(p)
	if !ok {
		return Usage{}, false
	}
	t := v.(*task)
	return Usage{Memory: t.memUsed.Load(), MemoryLimit: t.memLimit.Load(), Steps: t.steps.Load()}, true
}
