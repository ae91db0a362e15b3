package process

import (
	"errors"
	"runtime/debug"
	"time"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process/transport"
)

// exit ends p with r unless it has already ended, and tells every process
// related to it. It reports whether this call ended p.
//
// Order matters: p is marked dead first (so sends are dropped and no new
// relation can be made), then its names are released and it leaves the
// process table, and only then are monitors and links told. A watcher that
// reacts to EXIT by registering the same name therefore succeeds.
func (p *Process) exit(r Result) bool {
	p.mu.Lock()
	if p.dead {
		p.mu.Unlock()
		return false
	}
	p.dead = true
	p.result = r
	rel := p.rel.take()
	names := p.names
	p.names = nil
	quiet := p.quiet
	if p.timer != nil {
		p.timer.Stop()
		p.timer = nil
	}
	p.mu.Unlock()

	n := p.node
	if dropped := p.inbox.close(true); dropped > 0 {
		n.deadLetters.Add(uint64(dropped))
	}
	p.events.close(true)
	if p.ctx != nil {
		p.ctx.cancel()
	}
	n.releaseNames(p.pid, names)
	p.host.release() // before anyone hears of its end: a watcher may spawn its successor at once
	if p.handler != nil {
		// A blocking process leaves the table when its goroutine returns,
		// so that Shutdown can name goroutines that outlive termination.
		n.procs.delete(p.pid.ID)
	}
	// Monitors made while it was ending waited for its names to go, as
	// those made before do: whoever hears of its end can take its name.
	p.mu.Lock()
	p.namesGone = true
	late := p.rel.take()
	p.mu.Unlock()
	for _, w := range late[relWatchers] {
		n.deliverExit(w, p.pid, Result{Err: ErrNoProc})
	}

	for _, target := range rel[relMonitoring] {
		n.dropWatcher(target, p.pid)
	}
	for _, w := range rel[relWatchers] {
		n.deliverExit(w, p.pid, r)
	}
	for _, l := range rel[relLinks] {
		n.deliverLinkExit(l, p.pid, r)
	}
	if !quiet {
		n.reportCrash(p, r, rel)
	}
	n.ends.add(p, r)
	p.host.ended.Add(1)
	n.live.done()
	return true
}

func (p *Process) panicked(v any) error {
	err := &PanicError{Value: v, Stack: string(debug.Stack())}
	p.node.log.Error("process panicked", "pid", p.pid.String(), "panic", v)
	return err
}

// hasWork reports whether the drain goroutine of a reactive process has
// something to do.
func (p *Process) hasWork() bool {
	if p.inbox.len() > 0 || p.events.len() > 0 {
		return true
	}
	return p.isDead() && !p.terminatedFlag()
}

func (p *Process) terminatedFlag() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.terminated
}

// schedule starts the drain goroutine of a reactive process unless it runs.
func (p *Process) schedule() {
	if p.scheduled.CompareAndSwap(false, true) {
		p.node.goroutines.add()
		go p.drain()
	}
}

// drain runs the handler of a reactive process until there is nothing left
// to do. Only one drain goroutine runs at a time, so the handler is never
// called concurrently and messages are handled in order.
func (p *Process) drain() {
	defer p.node.goroutines.done()
	for {
		p.drainOnce()
		p.scheduled.Store(false)
		// Something delivered after drainOnce saw empty queues, but before
		// the flag was cleared, found the flag set and did not schedule.
		if !p.hasWork() || !p.scheduled.CompareAndSwap(false, true) {
			return
		}
	}
}

func (p *Process) drainOnce() {
	for {
		if p.isDead() {
			p.callTerminate()
			return
		}
		// Events first: an EXIT or CANCEL should not wait behind a backlog,
		// except behind the messages its own sender sent before it.
		if e, ok, _ := p.popEvent(); ok {
			p.handle(func() error { return p.handler.HandleEvent(p, e) })
			continue
		}
		if m, ok, _ := p.inbox.pop(); ok { // no passedMessage: this loop checks events next
			p.handle(func() error { return p.handler.HandleMessage(p, m) })
			continue
		}
		return
	}
}

func (p *Process) handle(call func() error) {
	var err error
	func() {
		defer func() {
			if v := recover(); v != nil {
				err = p.panicked(v)
			}
		}()
		err = call()
	}()
	if err == nil {
		return
	}
	if errors.Is(err, ErrStop) {
		p.exit(Result{})
	} else {
		p.exit(Result{Err: err})
	}
}

func (p *Process) callTerminate() {
	p.mu.Lock()
	if p.terminated {
		p.mu.Unlock()
		return
	}
	p.terminated = true
	r := p.result
	p.mu.Unlock()
	defer func() {
		if v := recover(); v != nil {
			p.panicked(v)
		}
	}()
	p.handler.Terminate(p, r)
}

// Terminate ends the target at once with ErrTerminated. Terminating a
// process that has ended does nothing.
func (n *Node) Terminate(target pid.PID) error {
	if !n.IsLocal(target) {
		return n.sendSignal(transport.Signal{Kind: transport.SigTerminate, To: target})
	}
	if p := n.lookup(target); p != nil {
		n.terminate(p, ErrTerminated)
	}
	return nil
}

func (n *Node) terminate(p *Process, err error) {
	p.exit(Result{Err: err})
	if p.handler != nil {
		p.schedule()
	}
}

// Cancel asks the target to end: it gets a CANCEL event with reason, its
// inbox stops taking new messages (those already queued can still be
// received), and if it has not ended within its host's grace period it is
// terminated. Cancelling an ended process does nothing; cancelling twice
// has the effect of the first call.
func (n *Node) Cancel(from, target pid.PID, reason string) error {
	if !n.IsLocal(target) {
		return n.sendSignal(transport.Signal{Kind: transport.SigCancel, From: from, To: target, Reason: reason})
	}
	if p := n.lookup(target); p != nil {
		n.cancel(p, from, reason, p.host.cancelGrace)
	}
	return nil
}

func (n *Node) cancel(p *Process, from pid.PID, reason string, grace time.Duration) {
	p.mu.Lock()
	if p.dead || p.cancelled {
		p.mu.Unlock()
		return
	}
	p.cancelled = true
	p.timer = time.AfterFunc(grace, func() { n.terminate(p, ErrTerminated) })
	p.mu.Unlock()
	p.pushEvent(Event{Kind: EventCancel, From: from, Reason: reason})
	p.inbox.close(false)
	if p.handler != nil {
		p.schedule()
	}
}
