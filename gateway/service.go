package gateway

import (
	"fmt"
	"math"
	"time"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// service is a process.service: a supervisor process that keeps a Lua
// process running, registered under the entry's id. The supervisor
// reserves the name, so it is the service's for as long as the supervisor
// runs, restarts included.
type service struct {
	app  *App
	id   string
	spec *config.ProcessService
	prog *luart.Program
	args []value.Value
}

func newService(a *App, e *config.Entry, s *config.ProcessService, prog *luart.Program) (*service, error) {
	args := make([]value.Value, len(s.Args))
	for i, x := range s.Args {
		v, err := value.Of(x)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		args[i] = v
	}
	return &service{app: a, id: e.ID, spec: s, prog: prog, args: args}, nil
}

func (s *service) start() error {
	if !*s.spec.Lifecycle.AutoStart {
		return nil
	}
	// Quiet: the supervisor logs how its service fails and gives up.
	_, err := s.app.node.Spawn(s.spec.Host, s.supervise, process.SpawnOptions{Quiet: true, Entry: s.id})
	if err != nil {
		return fmt.Errorf("gateway: start %s: %w", s.id, err)
	}
	return nil
}

// supervise runs the service's process, restarting it after failures with
// backoff, until the service is cancelled (at shutdown) or gives up.
func (s *service) supervise(p *process.Process) (value.Value, error) {
	log := s.app.log.With("service", s.id)
	r := s.spec.Lifecycle.Restart
	// The name stays with the service across restarts: between two runs
	// nobody else can take it (process.Node.Reserve).
	if err := p.Node().Reserve(s.id, p.PID()); err != nil {
		log.Error("service cannot keep its name; not started", "error", err.Error())
		return value.Nil(), fmt.Errorf("service %s: %w", s.id, err)
	}
	failures := 0
	for {
		started := time.Now()
		child, err := s.app.lua.Spawn(s.spec.Host, s.prog, s.args, process.SpawnOptions{Parent: p.PID(), Monitor: true, Name: s.id})
		var res process.Result
		if err != nil {
			res = process.Result{Err: err}
		} else {
			log.Info("service started", "pid", child.String())
			var cancelled bool
			if res, cancelled = s.wait(p, child); cancelled {
				return value.Nil(), nil
			}
		}
		if res.Err == nil {
			log.Info("service ended normally; it is not restarted")
			return value.Nil(), nil
		}
		if time.Since(started) > r.MaxDelay.Value {
			failures = 0 // it ran long enough to count as healthy
		}
		failures++
		if failures > *r.MaxAttempts {
			log.Error("service failed; giving up", "failures_in_a_row", failures, "error", res.Err.Error())
			return value.Nil(), fmt.Errorf("service %s gave up after %d failures: %w", s.id, failures, res.Err)
		}
		delay := backoff(r.InitialDelay.Value, r.MaxDelay.Value, r.BackoffFactor, failures)
		log.Warn("service failed; restarting", "attempt", failures, "in", delay.String(), "error", res.Err.Error())
		if s.sleep(p, delay) {
			return value.Nil(), nil
		}
	}
}

// wait waits for the child's EXIT. On CANCEL it cancels the child, waits
// for it to end, and reports cancelled.
func (s *service) wait(p *process.Process, child pid.PID) (process.Result, bool) {
	cancelled := false
	for {
		ev, ok := p.ReceiveEvent(p.Context())
		if !ok {
			return process.Result{}, true
		}
		switch {
		case ev.Kind == process.EventCancel && !cancelled:
			cancelled = true
			_ = s.app.node.Cancel(p.PID(), child, ev.Reason)
		case ev.Kind == process.EventExit && ev.From == child:
			return ev.Result, cancelled
		}
	}
}

// sleep waits d; it reports true when the supervisor was cancelled meanwhile.
func (s *service) sleep(p *process.Process, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return false
		case <-p.Context().Done():
			return true
		case <-p.EventsReady():
			for { // one signal may stand for several events
				ev, ok, closed := p.TryReceiveEvent()
				if closed || (ok && ev.Kind == process.EventCancel) {
					return true
				}
				if !ok {
					break
				}
			}
		}
	}
}

// backoff is the delay before restart number n (1-based).
func backoff(initial, max time.Duration, factor float64, n int) time.Duration {
	d := float64(initial) * math.Pow(factor, float64(n-1))
	if d > float64(max) || math.IsInf(d, 0) {
		return max
	}
	return time.Duration(d)
}
