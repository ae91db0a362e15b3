package supervisor

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/internal/logtext"
	"github.com/wsrelay/wsrelay/internal/ratelog"
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
	sup  *Supervisor
	id   string
	spec *config.ProcessService
	prog *luart.Program
	args []value.Value
	// restarts limits the lines of a service that fails as soon as it
	// starts, with a short initial_delay.
	restarts *ratelog.Limiter
	// deps are the services of lifecycle.depends_on (and requires): this
	// one's first instance starts once each of them runs.
	deps []*service
	// up is closed once an instance of the service has started (spawned
	// and holding its name); over when its supervisor has ended.
	up, over chan struct{}
	upOnce   sync.Once
}

// linkDependencies gives each service the services it depends on.
func linkDependencies(services []*service) {
	byID := make(map[string]*service, len(services))
	for _, s := range services {
		byID[s.id] = s
	}
	for _, s := range services {
		for _, id := range s.spec.Lifecycle.DependsOn {
			if d, ok := byID[id]; ok {
				s.deps = append(s.deps, d)
			}
		}
	}
}

func (s *service) markUp() { s.upOnce.Do(func() { close(s.up) }) }

func newService(sup *Supervisor, id string, s *config.ProcessService, prog *luart.Program) (*service, error) {
	args := make([]value.Value, len(s.Args))
	for i, x := range s.Args {
		v, err := value.Of(x)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		args[i] = v
	}
	return &service{sup: sup, id: id, spec: s, prog: prog, args: args, restarts: ratelog.New(ratelog.PerSecond),
		up: make(chan struct{}), over: make(chan struct{})}, nil
}

func (s *service) start() error {
	if !*s.spec.Lifecycle.AutoStart {
		return nil
	}
	body := s.supervise
	if s.spec.Scope == config.ScopeCluster {
		if names, ok := s.sup.names.(ClusterNames); ok {
			body = func(p *process.Process) (value.Value, error) { return s.superviseCluster(p, names) }
		} else {
			s.sup.log.Info("service has scope cluster but this node is not in a cluster: it runs here as the single instance", "service", s.id)
		}
	}
	run := func(p *process.Process) (value.Value, error) {
		defer close(s.over)
		return body(p)
	}
	// Quiet: the supervisor logs how its service fails and gives up.
	_, err := s.sup.node.Spawn(s.spec.Host, run, process.SpawnOptions{Quiet: true, Entry: s.id})
	if err != nil {
		return fmt.Errorf("supervisor: start %s: %w", s.id, err)
	}
	return nil
}

// outcome is how a service's runs ended.
type outcome int

const (
	running   outcome = iota
	cancelled         // the supervisor was cancelled (shutdown)
	finished          // the process ended normally, or the service gave up
	lostClaim         // a cluster service's node no longer holds its claim
	fenced            // a cluster service's node was cut off from NATS
)

// supervise runs a local service: its process, restarted after failures
// with backoff, until the service is cancelled (at shutdown) or gives up.
func (s *service) supervise(p *process.Process) (value.Value, error) {
	log := s.sup.log.With("service", s.id)
	// The name stays with the service across restarts: between two runs
	// nobody else can take it (process.Node.Reserve).
	if err := p.Node().Reserve(s.id, p.PID()); err != nil {
		log.Error("service cannot keep its name; not started", "error", err.Error())
		return value.Nil(), fmt.Errorf("service %s: %w", s.id, err)
	}
	_, err := s.runs(p, log, nil)
	return value.Nil(), err
}

// runs runs the service's process, restarting it after failures with
// backoff, until the supervisor is cancelled, the process ends normally,
// the service gives up (the error says why), or, for a cluster service (c
// not nil), this node loses the service's claim.
func (s *service) runs(p *process.Process, log *slog.Logger, c *claim) (outcome, error) {
	r := s.spec.Lifecycle.Restart
	failures := 0
	if o, err := s.awaitDependencies(p, log); o != running {
		return o, err
	}
	for {
		if o := c.awaitName(p, s, log); o != running {
			return o, nil
		}
		started := time.Now()
		child, err := s.sup.lua.Spawn(s.spec.Host, s.prog, s.args, process.SpawnOptions{Parent: p.PID(), Monitor: true, Name: s.id})
		var res process.Result
		if err != nil {
			res = process.Result{Err: err}
		} else {
			var o outcome
			var retry time.Duration // after an instance that could not take its name
			if err := c.register(p, s.id, child); err != nil {
				_ = s.sup.node.Terminate(child)
				log.Warn("service instance could not take its name cluster-wide; stopped", "pid", child.String(), "error", err.Error())
				// None is the service's failure: no restart is counted.
				switch {
				case errors.Is(err, errCutOff):
					o = fenced
				case errors.Is(err, process.ErrNameTaken):
					retry = fenceTick // awaitName waits for the holder (or releases a dead one of this node)
				default:
					retry = claimRetry // NATS or JetStream trouble
				}
			} else {
				s.restarts.Log(log, slog.LevelInfo, restartLines, "service started", "pid", child.String())
				s.markUp()
			}
			var why outcome
			res, why = s.wait(p, child, c)
			c.releaseName(p, s.id, child)
			if why != running {
				o = why // cancelled wins over fenced
			}
			if o == running && retry > 0 {
				c.refresh(p, s.id) // the table may lag the bucket
				o = s.pause(p, retry, c)
				if o == running {
					continue
				}
			}
			if o != running {
				return o, nil
			}
		}
		if res.Err == nil {
			log.Info("service ended normally; it is not restarted")
			return finished, nil
		}
		if time.Since(started) > r.MaxDelay.Value {
			failures = 0 // it ran long enough to count as healthy
		}
		failures++
		if failures > *r.MaxAttempts {
			log.Error("service failed; giving up", "failures_in_a_row", failures, "error", logtext.Cut(res.Err.Error(), maxLogError))
			return finished, fmt.Errorf("service %s gave up after %d failures: %w", s.id, failures, res.Err)
		}
		delay := withJitter(backoff(r.InitialDelay.Value, r.MaxDelay.Value, r.BackoffFactor, failures), r.Jitter, rand.Float64())
		s.restarts.Log(log, slog.LevelWarn, restartLines, "service failed; restarting", "attempt", failures, "in", delay.String(), "error", logtext.Cut(res.Err.Error(), maxLogError))
		if o := s.pause(p, delay, c); o != running {
			return o, nil
		}
	}
}

// awaitDependencies waits until every service this one depends on runs,
// for at most lifecycle.start_timeout in all. A dependency that does not
// run by then, or whose supervisor ends before it ever ran, is logged and
// ends this service's start (finished, with an error); a cancel while
// waiting is cancelled.
func (s *service) awaitDependencies(p *process.Process, log *slog.Logger) (outcome, error) {
	if len(s.deps) == 0 {
		return running, nil
	}
	limit := s.spec.Lifecycle.StartTimeout.Value
	t := time.NewTimer(limit)
	defer t.Stop()
	for _, d := range s.deps {
		why := ""
		for why == "" {
			up, changed := d.isUp()
			if up {
				break
			}
			switch waitOn(p, t.C, d.up, d.over, changed) {
			case depTimedOut:
				why = "is not running after " + limit.String() + " (lifecycle.start_timeout)"
			case depOver:
				if up, _ := d.isUp(); !up {
					why = "ended without ever running"
				}
			case depCancelled:
				return cancelled, nil
			}
			// depUp, depChanged: look again
		}
		if why != "" {
			log.Error("service not started: a service it depends on "+why, "depends_on", d.id)
			return finished, fmt.Errorf("service %s not started: %s %s", s.id, d.id, why)
		}
	}
	return running, nil
}

// isUp reports whether a service has run: an instance of this node
// started, or, for a cluster service in a cluster, its name is held
// somewhere; changed (nil for a local one) is closed when that name's
// holder changes.
func (s *service) isUp() (bool, <-chan struct{}) {
	select {
	case <-s.up:
		return true, nil
	default:
	}
	if s.spec.Scope != config.ScopeCluster {
		return false, nil
	}
	names, ok := s.sup.names.(ClusterNames)
	if !ok {
		return false, nil
	}
	changed := names.Changed(s.id)
	_, held := names.LookupName(s.id)
	return held, changed
}

// depWake is why waitOn returned.
type depWake int

const (
	depTimedOut  depWake = iota
	depUp                // the dependency's up was closed
	depOver              // its supervisor ended
	depChanged           // its cluster name changed holder
	depCancelled         // the waiting process was cancelled
)

// waitOn waits for the first of: timeout, up, over, changed (nil: never),
// the process's cancel.
func waitOn(p *process.Process, timeout <-chan time.Time, up, over, changed <-chan struct{}) depWake {
	for {
		select {
		case <-timeout:
			return depTimedOut
		case <-up:
			return depUp
		case <-over:
			return depOver
		case <-changed:
			return depChanged
		case <-p.Context().Done():
			return depCancelled
		case <-p.EventsReady():
			for { // one signal may stand for several events
				ev, ok, closed := p.TryReceiveEventAlone()
				if closed || (ok && ev.Kind == process.EventCancel) {
					return depCancelled
				}
				if !ok {
					break
				}
			}
		}
	}
}

// wait waits for the child's EXIT. On CANCEL it cancels the child, waits
// for it to end, and reports why. A cluster service's instance is
// terminated, without the cancel grace, when its node is cut off from
// NATS (fenced) or its claim is lost: another node may start its own
// instance at once, so the grace would let two run.
func (s *service) wait(p *process.Process, child pid.PID, c *claim) (process.Result, outcome) {
	why := running
	var tick <-chan time.Time
	if c != nil {
		t := time.NewTicker(fenceTick)
		defer t.Stop()
		tick = t.C
	}
	// The supervisor reads no messages, but the child's EXIT is received
	// only after the messages the child sent it (an instance saying
	// goodbye to the supervisor that cancelled it, say): they are
	// discarded, or the EXIT would never come.
	inbox := p.InboxReady()
	for {
		changed, lost := c.watch()
		if lost && why == running {
			why = lostClaim
			_ = s.sup.node.Terminate(child)
		}
		select {
		case <-changed:
			continue
		case <-tick:
			if why == running && c.names.CutOff() {
				why = fenced
				_ = s.sup.node.Terminate(child)
			}
			continue
		case <-p.Context().Done():
			return process.Result{}, cancelled
		case <-inbox:
			for {
				_, ok, closed := p.TryReceive()
				if closed {
					inbox = nil // closed for good: it would be ready forever
				}
				if !ok {
					break
				}
			}
			continue
		case <-p.EventsReady():
		}
		for { // one signal may stand for several events
			ev, ok, closed := p.TryReceiveEventAlone()
			if closed {
				return process.Result{}, cancelled
			}
			if !ok {
				break
			}
			switch {
			case ev.Kind == process.EventCancel && why != cancelled:
				if why == running {
					_ = s.sup.node.Cancel(p.PID(), child, ev.Reason)
				}
				why = cancelled
			case ev.Kind == process.EventExit && ev.From == child:
				return ev.Result, why
			}
		}
	}
}

// pause waits d; it reports cancelled when the supervisor was cancelled
// meanwhile, lostClaim when a cluster service's claim was lost, and
// running otherwise.
func (s *service) pause(p *process.Process, d time.Duration, c *claim) outcome {
	until := time.Now().Add(d)
	for {
		changed, lost := c.watch()
		if lost {
			return lostClaim
		}
		switch sleep(p, time.Until(until), changed) {
		case woken:
			continue // the claim changed: still ours?
		case cancelledWhileAsleep:
			return cancelled
		default:
			return running
		}
	}
}

// wake is why sleep returned.
type wake int

const (
	timedOut wake = iota
	woken
	cancelledWhileAsleep
)

// sleep waits d, or until ch (nil: never) is closed or the process is
// cancelled.
func sleep(p *process.Process, d time.Duration, ch <-chan struct{}) wake {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			return timedOut
		case <-ch:
			return woken
		case <-p.Context().Done():
			return cancelledWhileAsleep
		case <-p.EventsReady():
			for { // one signal may stand for several events
				ev, ok, closed := p.TryReceiveEventAlone()
				if closed || (ok && ev.Kind == process.EventCancel) {
					return cancelledWhileAsleep
				}
				if !ok {
					break
				}
			}
		}
	}
}

// withJitter spreads d by up to ±jitter of it (a fraction, 0 to 1), u
// being uniform in [0, 1): as the original runtime does, after the cap of
// max_delay, so that services failing together do not restart together.
func withJitter(d time.Duration, jitter, u float64) time.Duration {
	return time.Duration(float64(d) * (1 + jitter*(2*u-1)))
}

// backoff is the delay before restart number n (1-based).
func backoff(initial, max time.Duration, factor float64, n int) time.Duration {
	d := float64(initial) * math.Pow(factor, float64(n-1))
	if d > float64(max) || math.IsInf(d, 0) {
		return max
	}
	return time.Duration(d)
}
