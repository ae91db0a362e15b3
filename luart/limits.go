package luart

import (
	"sync"

	lua "github.com/yuin/gopher-lua"
)

// Limits of a Lua state. The patched gopher-lua in third_party/gopher-lua
// does the accounting (see its PATCHES.md); this file sets it up for the
// sandbox.
//
// Memory: every state has a budget of live data (Options.ProcessMemory
// for a process, Options.HandlerMemory for one handler call, or the
// entry's own memory_limit). Allocation points charge their bytes; once the
// charges pass a pace the state's live data is measured by a walk from its
// roots that skips the shared library tables (libs.shared). Over the budget
// the code gets the Lua error "memory limit exceeded: ...".
//
// Time: the VM loop, the pattern matcher, sort and gsub check the state's
// context every 1024 steps (CheckEvery), so a timeout, cancel or terminate
// stops them within milliseconds. With Options.YieldEvery the VM also
// yields the processor every so many instructions (off by default: see
// docs/lua.md, CPU fairness).

// Defaults of the limits in Options.
const (
	DefaultProcessMemory = 64 << 20
	DefaultHandlerMemory = 32 << 20
	// CheckEvery is how many VM instructions (or steps of a long builtin)
	// a state runs between two checks of its context.
	CheckEvery = 1024
)

// memoryLimit returns the budget of a state running prog.
func (rt *Runtime) memoryLimit(prog *Program) int64 {
	switch {
	case prog.maxMemory > 0:
		return prog.maxMemory
	case prog.kind == KindFunction:
		return rt.opts.HandlerMemory
	}
	return rt.opts.ProcessMemory
}

// setLimits gives a new state its limits.
func (s *state) setLimits() {
	lm := &lua.Limits{
		MaxBytes:       s.rt.memoryLimit(s.prog),
		Shared:         s.rt.libs.isShared,
		UserData:       userDataSize,
		InterruptEvery: CheckEvery,
		Yield:          s.rt.opts.YieldEvery > 0,
	}
	if lm.MaxBytes < 0 {
		lm.MaxBytes = 0
	}
	if lm.Yield {
		lm.InterruptEvery = s.rt.opts.YieldEvery
	}
	if s.rt.cpu != nil {
		lm.Interrupt, lm.BeforeGoCall = s.cpuCheck, s.releaseCPU
	}
	if s.proc != nil {
		lm.Preempt = s.preempt
	}
	s.L.SetLimits(lm)
	s.limits = lm
}

// userDataSize counts what the sandbox's own userdata keep alive: the
// values queued in a channel, a child logger's name and fields, a
// spawner's values.
func userDataSize(ud *lua.LUserData, visit func(lua.LValue)) int64 {
	switch v := ud.Value.(type) {
	case *childLogger:
		return int64(v.size())
	case *spawner:
		return int64(v.size())
	}
	c, ok := ud.Value.(*lchan)
	if !ok {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, v := range c.buf {
		visit(v)
	}
	return int64(cap(c.buf)) * 16
}

// isShared reports the objects built once per Runtime and shared by every
// state: the memory walk neither counts nor enters them, and the raw
// writers (rawset, table.insert, ...) refuse them.
func (l *libs) isShared(v lua.LValue) bool {
	switch v.(type) {
	case *lua.LTable, *lua.LFunction:
		_, ok := l.shared[v]
		return ok
	}
	return false
}

// collectShared records every table and function reachable from roots.
func (l *libs) collectShared(roots ...lua.LValue) {
	todo := roots
	for len(todo) > 0 {
		v := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if _, ok := l.shared[v]; ok {
			continue
		}
		switch x := v.(type) {
		case *lua.LTable:
			l.shared[v] = struct{}{}
			x.ForEach(func(k, e lua.LValue) { todo = append(todo, k, e) })
			todo = append(todo, x.Metatable)
		case *lua.LFunction:
			l.shared[v] = struct{}{}
			if x.Env != nil {
				todo = append(todo, x.Env)
			}
			for _, uv := range x.Upvalues {
				todo = append(todo, uv.Value())
			}
		}
	}
}

// CPU slots. Go checks the network for ready connections only when a
// processor has nothing else to run (or every 10 ms), so as many busy
// scripts as cores would make every relay round trip wait up to 10 ms.
// Busy Lua code therefore needs one of Options.LuaCores slots: a state
// takes a slot at its first context check (after 1,024 instructions, so
// short handlers never wait for one), gives it back before every Go
// function it calls (any of them may block: receive, sleep, a write to
// the client) and, to take turns with other busy states, every
// cpuTurn checks. The other cores stay free for the relay.

// cpuTurn is how many context checks (of 1,024 instructions each) a
// state runs on a slot before it lets a waiting state have it.
const cpuTurn = 8

// cpuCheck is the state's Limits.Interrupt when slots are on: it takes a
// slot if the state has none, and takes turns. A Lua process's body that
// can yield does not wait for a slot here: it parks until one is free
// (state.preempt, task.step), so that its worker runs other processes
// meanwhile; and it takes its turns by preemption.
func (s *state) cpuCheck() error {
	if t := s.task; t != nil && t.canYield(s.L.G.CurrentThread) {
		if !s.cpuHeld {
			if s.stepChecks++; s.stepChecks == 1 {
				// The first check of a step that goes on from a wait
				// needs no slot: the count of instructions goes on from
				// step to step, so a light process that has run many
				// short steps would otherwise wait for a busy one's turn
				// every 1,024 of its instructions. Such a step runs at
				// most 2,048 instructions without a slot; a step that
				// goes on from a preemption starts with its first check
				// done (task.step).
				return nil
			}
			select {
			case <-s.rt.cpu:
				s.cpuHeld, s.cpuChecks = true, 0
			default:
				s.needSlot = true
			}
		}
		return nil
	}
	if s.cpuHeld {
		if s.task != nil && s.task.canYield(s.L.G.CurrentThread) {
			return nil // the scheduler takes the turns: see state.preempt
		}
		if s.cpuChecks++; s.cpuChecks < cpuTurn {
			return nil
		}
		s.releaseCPU()
	}
	select {
	case <-s.rt.cpu:
		s.cpuHeld, s.cpuChecks = true, 0
		return nil
	case <-s.ctx.Done():
		return s.ctx.Err()
	}
}

// releaseCPU gives the state's slot back, if it holds one, and wakes a
// process parked for one.
func (s *state) releaseCPU() {
	if s.cpuHeld {
		s.cpuHeld = false
		s.rt.cpu <- struct{}{}
		s.rt.slotWaiters.wakeOne()
	}
}

// slotWaiters are the processes parked until a CPU slot is free.
type slotWaiters struct {
	mu sync.Mutex
	q  []*task // may hold tasks no longer waiting (slotWaiting false): skipped
}

// park records that t waits for a slot.
func (w *slotWaiters) park(t *task) {
	w.mu.Lock()
	if !t.slotWaiting {
		t.slotWaiting = true
		w.q = append(w.q, t)
	}
	w.mu.Unlock()
}

// wakeOne wakes the oldest task still waiting for a slot. The woken task
// takes the slot if it is still free (a handler may have taken it: then
// it parks again).
func (w *slotWaiters) wakeOne() {
	w.mu.Lock()
	var t *task
	for len(w.q) > 0 && t == nil {
		if w.q[0].slotWaiting {
			t = w.q[0]
			t.slotWaiting = false
		}
		w.q[0] = nil
		w.q = w.q[1:]
	}
	if len(w.q) == 0 {
		w.q = nil
	}
	w.mu.Unlock()
	if t != nil {
		t.wake()
	}
}

// takeSlot is the wait of a body parked for a slot: it takes one if free,
// and else (again) waits for one. Woken for a slot that someone else took
// meanwhile, it is back in the queue of waiters.
func (s *state) takeSlot() ([]lua.LValue, bool) {
	if s.tryTakeSlot() {
		return nil, true
	}
	s.rt.slotWaiters.park(s.task)
	// A slot released before park woke nobody for this task: look again.
	return nil, s.tryTakeSlot()
}

func (s *state) tryTakeSlot() bool {
	select {
	case <-s.rt.cpu:
		s.cpuHeld, s.cpuChecks = true, 0
		s.rt.slotWaiters.mu.Lock()
		s.task.slotWaiting = false
		s.rt.slotWaiters.mu.Unlock()
		return true
	default:
		return false
	}
}
