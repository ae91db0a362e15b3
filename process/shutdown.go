package process

import (
	"context"
	"time"

	"github.com/wsrelay/wsrelay/pid"
)

// TerminateWait is how long Shutdown waits, after terminating the processes
// that outlived its context, for their goroutines to return.
const TerminateWait = time.Second

// Shutdown stops the node: it refuses new spawns, cancels every process
// (CANCEL event, reason "shutdown"), waits for them to end until ctx is
// done, terminates those still running, and waits up to TerminateWait for
// their goroutines. It returns a *ShutdownError naming the processes that
// had to be terminated or whose goroutines did not return; nil when every
// process ended by itself. Sends during and after Shutdown are dropped and
// counted like sends to ended processes.
func (n *Node) Shutdown(ctx context.Context) error {
	n.closing.Store(true)
	n.procs.each(func(p *Process) { n.cancel(p, pid.PID{}, "shutdown", p.host.cancelGrace) })

	var serr ShutdownError
	select {
	case <-n.live.wait():
	case <-ctx.Done():
		n.procs.each(func(p *Process) {
			if p.exit(Result{Err: ErrTerminated}) {
				serr.Terminated = append(serr.Terminated, p.pid)
				if p.handler != nil {
					p.schedule()
				}
			}
		})
	}
	timer := time.NewTimer(TerminateWait)
	defer timer.Stop()
	select {
	case <-n.goroutines.wait():
	case <-timer.C:
		n.procs.each(func(p *Process) { serr.Stuck = append(serr.Stuck, p.pid) })
	}
	if len(serr.Terminated) == 0 && len(serr.Stuck) == 0 {
		return nil
	}
	n.log.Warn("shutdown did not end cleanly", "error", serr.Error())
	return &serr
}
