package process

import "github.com/wsrelay/wsrelay/pid"

// Scheduled processes. A scheduled process is a blocking process (it has a
// context, Receive, TryReceive, InboxReady, ...) whose body the caller runs
// on a scheduler of its own instead of a goroutine per process: the Lua
// runtime runs Lua processes as resumable coroutines on a few workers. The
// node calls wake whenever the process may have something to do, and the
// caller ends the process with Finish when its body returns.

// SpawnScheduled starts a scheduled process on the named host. start is
// called once the process exists (on the spawning goroutine, before
// SpawnScheduled returns); it must not block: it queues the body's first
// step. wake is called, from any goroutine and possibly with a lock of the
// process held, whenever something is delivered to the process (a message,
// an event), its inbox closes, or it ends (terminated, killed by a link):
// it must not block and must not call back into the process; it queues a
// step. A wake may find nothing new: the step polls again. The body must
// eventually call Finish, also after the process was terminated (its
// Context is then done).
func (n *Node) SpawnScheduled(host string, start func(p *Process), wake func(), opts SpawnOptions) (pid.PID, error) {
	return n.spawn(host, opts, func(p *Process) {
		p.ctx = newProcContext()
		p.ctx.notify = wake
		p.initInbox(true)
		p.events.init(0, true)
		p.inbox.notify, p.events.notify = wake, wake
	}, func(p *Process) {
		n.goroutines.add() // Shutdown waits for its body as for a goroutine's
		start(p)
	})
}

// Finish ends a scheduled process whose body returned r: as a blocking
// process's Func returning. A process already ended (terminated) keeps its
// result; Finish then only forgets it. Call it once.
func (p *Process) Finish(r Result) {
	p.exit(r)
	p.node.procs.delete(p.pid.ID)
	p.node.goroutines.done()
}

// Panicked turns a panic of a scheduled process's body into the error it
// ends with (a *PanicError with the stack), logging it as the node does for
// the bodies it runs. Call it in the deferred recover of the goroutine that
// ran the body, then Finish with it.
func (p *Process) Panicked(v any) error { return p.panicked(v) }
