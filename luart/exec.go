package luart

import (
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/internal/logtext"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// process.exec(id, host, ...) and spawner:exec(id, host, ...): run a
// process and wait for its result.
//
// exec spawns the process.lua entry id on host with the arguments, as
// process.spawn does (with the caller's context values, or the spawner's
// context, name and messages), waits until it ends, and returns what its
// body returned, or nil and an error naming the entry when it failed (an
// error, terminated, killed by a link). The child is not monitored or
// linked: its end reaches only this wait, not the caller's events.
//
// The wait is a wait like receive: a process's body (or a coroutine of
// coroutine.spawn) yields and holds no goroutine until the child ends;
// elsewhere (a handler, a wait that cannot yield) it waits in place. It is bounded by
// the caller's life:
//   - a handler whose request ends or times out terminates the child, and
//     exec raises the handler's timeout error;
//   - a process that is cancelled while it waits cancels the child (which
//     has its host's grace period to end, as any cancelled process) and
//     goes on waiting for its result; the caller's own CANCEL event stays
//     in its events for its code to read;
//   - a process that ends while it waits (terminated, killed by a link,
//     its grace period over, or another of its coroutines failed)
//     terminates the child as its state closes (state.close).
// So no child outlives a caller that waits for it.

// execCall is one exec under way.
type execCall struct {
	child atomic.Pointer[process.Process]
	done  chan struct{} // closed by the child's end (watchEnd)
	ended atomic.Bool
}

// watchEnd is the child's wake (process.SpawnScheduled): it is called
// with the child's locks possibly held, so it only looks at the child's
// context, whose done channel is closed before the wake that follows its
// end, and wakes the caller.
func (ec *execCall) watchEnd(wakeCaller func()) func() {
	return func() {
		p := ec.child.Load()
		if p == nil {
			return // before start: the caller polls after the spawn anyway
		}
		select {
		case <-p.Context().Done():
			if ec.ended.CompareAndSwap(false, true) {
				close(ec.done)
				if wakeCaller != nil {
					wakeCaller()
				}
			}
		default:
		}
	}
}

func (s *state) procExec(L *lua.LState) int {
	return s.exec(L, "process.exec", s.inheritedContext())
}

func spawnerExec(s *state, L *lua.LState) int {
	const fn = "spawner:exec"
	sp := checkSpawner(L, fn)
	L.Remove(1) // the arguments as process.exec takes them
	return s.exec(L, fn, sp)
}

// exec is process.exec with the context values, name and messages of sp.
func (s *state) exec(L *lua.LState, fn string, sp *spawner) int {
	id := checkString(L, 1, fn, "entry id")
	host := checkString(L, 2, fn, "process host")
	args := make([]value.Value, 0, max(L.GetTop()-2, 0))
	for i := 3; i <= L.GetTop(); i++ {
		args = append(args, s.sendValue(L, i, fn, "argument"))
	}
	prog, err := s.rt.lookupRelative(id, s.prog.namespace())
	if err != nil {
		return pushFail(L, fn+": "+err.Error())
	}
	ec := &execCall{done: make(chan struct{})}
	var wakeCaller func()
	if s.task != nil {
		wakeCaller = s.task.wake
	}
	ctxValues := value.Nil()
	if len(sp.ctx) > 0 {
		ctxValues = value.FromMap(sp.ctx)
	}
	child, err := s.rt.spawnTask(host, prog, args, process.SpawnOptions{Name: sp.name}, ctxValues, func(p *process.Process) { ec.child.Store(p) }, ec.watchEnd(wakeCaller))
	if err != nil {
		return pushFail(L, fn+": "+err.Error())
	}
	for _, m := range sp.messages {
		_ = s.rt.node.Send(s.selfPID(), child, m.topic, m.payload) // as spawner:spawn
	}
	ec.watchEnd(wakeCaller)() // it may have ended before its PID was known
	if s.execs == nil {
		s.execs = map[pid.PID]struct{}{}
	}
	s.execs[child] = struct{}{}
	cancelled := false
	try := func() ([]lua.LValue, bool) {
		if ec.ended.Load() {
			delete(s.execs, child)
			r, _ := ec.child.Load().Result()
			if r.Err != nil {
				return []lua.LValue{lua.LNil, lua.LString(logtext.Cut(fn+": "+prog.id+": "+exitText(r.Err), maxErrorText))}, true
			}
			return []lua.LValue{toLua(L, r.Value)}, true
		}
		if !cancelled && s.proc != nil && s.proc.Cancelled() {
			cancelled = true
			_ = s.rt.node.Cancel(s.selfPID(), child, "the process waiting for it in "+fn+" was cancelled")
		}
		return nil, false
	}
	var events <-chan struct{}
	if s.proc != nil {
		events = s.proc.EventsReady() // a cancel comes as an event
	}
	return s.await(L, fn, true, try, func() bool {
		select {
		case <-ec.done:
			return true
		case <-events:
			return true
		case <-s.ctx.Done():
			delete(s.execs, child)
			_ = s.rt.node.Terminate(child)
			return false
		}
	})
}

// endExecs terminates the children of the exec calls still waiting when
// the state closes: its process ended while waiting.
func (s *state) endExecs() {
	for child := range s.execs {
		_ = s.rt.node.Terminate(child)
	}
	s.execs = nil
}

func pushFail(L *lua.LState, msg string) int {
	L.Push(lua.LNil)
	L.Push(lua.LString(logtext.Cut(msg, maxErrorText)))
	return 2
}
