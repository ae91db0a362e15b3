package supervisor

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// ClusterNames is what a cluster-scoped service needs of the cluster-wide
// name table; cluster.Names has it.
type ClusterNames interface {
	process.NameLookup
	// Holder returns who holds name in the table, alive or not (a lookup
	// answers only holders that may be alive): a name is free for a new
	// holder once it is released there.
	Holder(name string) (pid.PID, bool)
	// Register registers p under name cluster-wide (first write wins).
	Register(ctx context.Context, name string, p pid.PID) error
	// Claim is Register for a name of the runtime's own (it starts with
	// '{'): the right to run a service.
	Claim(ctx context.Context, name string, p pid.PID) error
	// Release frees name if p holds it.
	Release(ctx context.Context, name string, p pid.PID) bool
	// Changed is closed at the next change of name's holder.
	Changed(name string) <-chan struct{}
	// Refresh reads name from the bucket into the local table.
	Refresh(ctx context.Context, name string) error
	// CutOff reports whether this node has been away from NATS long
	// enough that the others may soon take it for lost.
	CutOff() bool
}

const (
	// claimTimeout bounds one JetStream request of a cluster service.
	claimTimeout = 5 * time.Second
	// claimRetry is how soon a claim that failed for another reason than
	// being held (NATS unreachable, say) is tried again.
	claimRetry = time.Second
	// standbyRecheck is how often a node that does not run a cluster
	// service tries its claim even though no change was seen: a safety
	// net under the watch of the name table.
	standbyRecheck = 5 * time.Second
	// releaseTimeout bounds a release of the service's name or claim
	// when its instance or supervisor ends, and a quarter of the host's
	// cancel grace does too. Either is a courtesy that lets the next
	// instance start at once: a name left behind is released by this
	// node's sweep of names of ended processes, or by the other nodes
	// when this node leaves. A supervisor cancelled at shutdown while
	// JetStream does not answer (it lost its majority) so spends at most
	// half its grace on them and ends by itself rather than being
	// terminated; its other requests end when the shutdown starts
	// (Options.Stopping).
	releaseTimeout = time.Second
	// fenceTick is how often the node that runs a cluster service checks
	// that it is not cut off from NATS.
	fenceTick = 100 * time.Millisecond
)

// claim is a cluster service's right to run: the name {service}<id> in the
// cluster-wide table, held by the supervisor of the node that runs the
// instance. It is released when that supervisor ends or its node is lost
// (cluster.Names does that), and the supervisors of the other nodes,
// waiting on a change of it, race to take it: exactly one wins.
type claim struct {
	names ClusterNames
	key   string
	self  pid.PID // the supervisor that holds it
	// stopping ends when the app shuts down (Options.Stopping).
	stopping context.Context
	// release bounds a release (releaseTimeout).
	release time.Duration
}

// request returns the context of one JetStream request of the
// supervisor p: claimTimeout at most, ended when p ends or the app shuts
// down.
func (c *claim) request(p *process.Process) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(p.Context(), claimTimeout)
	stop := context.AfterFunc(c.stopping, cancel)
	return ctx, func() { stop(); cancel() }
}

// watch returns a channel closed at the next change of the claim, and
// whether the claim is lost already. A nil claim (a local service) is
// never lost.
func (c *claim) watch() (<-chan struct{}, bool) {
	if c == nil {
		return nil, false
	}
	ch := c.names.Changed(c.key) // first, so that no change is missed
	holder, ok := c.names.Holder(c.key)
	return ch, !ok || holder != c.self
}

// awaitName waits until the service's name is free cluster-wide before an
// instance starts: its previous instance, on a lost node, may still hold
// it for a moment. A nil claim does not wait.
func (c *claim) awaitName(p *process.Process, s *service, log *slog.Logger) outcome {
	if c == nil {
		return running
	}
	var told pid.PID
	for {
		freed := c.names.Changed(s.id)
		holder, held := c.names.Holder(s.id)
		if !held {
			return running
		}
		if p.Node().IsLocal(holder) && !p.Node().Alive(holder) {
			// An instance of this node that ended while NATS was away:
			// nobody released its name.
			ctx, cancel := c.request(p)
			released := c.names.Release(ctx, s.id, holder)
			cancel()
			if released {
				continue
			}
		}
		if holder != told {
			log.Info("service waits for its name, held cluster-wide by another process", "holder", holder.String())
			told = holder
		}
		lost, isLost := c.watch()
		if isLost {
			return lostClaim
		}
		select {
		case <-freed:
		case <-lost:
		case <-time.After(claimRetry):
		case <-p.Context().Done():
			return cancelled
		case <-p.EventsReady():
			for {
				ev, ok, closed := p.TryReceiveEventAlone()
				if closed || (ok && ev.Kind == process.EventCancel) {
					return cancelled
				}
				if !ok {
					break
				}
			}
		}
	}
}

// errCutOff: this node was cut off from NATS while it registered its
// instance.
var errCutOff = errors.New("cut off from NATS")

// register registers the instance under the service's name cluster-wide.
// While the request is out the instance runs, so the fence is watched
// meanwhile: cut off, it gives up with errCutOff.
func (c *claim) register(p *process.Process, name string, child pid.PID) error {
	if c == nil {
		return nil
	}
	ctx, cancel := c.request(p)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- c.names.Register(ctx, name, child) }()
	tick := time.NewTicker(fenceTick)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if c.names.CutOff() {
				cancel()
				<-done
				return errCutOff
			}
		}
	}
}

// refresh reads the service's name from the bucket: a registration of
// this node whose answer was lost while NATS was away may hold it.
func (c *claim) refresh(p *process.Process, name string) {
	ctx, cancel := c.request(p)
	defer cancel()
	_ = c.names.Refresh(ctx, name)
}

// releaseName frees the service's name once its instance has ended (the
// name table would too, a moment later), so the next instance can take it
// at once. The request ends when the supervisor does (it is terminated
// at shutdown), so no goroutine outlives it.
func (c *claim) releaseName(p *process.Process, name string, child pid.PID) {
	if c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(p.Context(), c.release)
	defer cancel()
	c.names.Release(ctx, name, child)
}

// superviseCluster runs a cluster service: every node that runs the app
// runs this supervisor, and the one that holds the service's claim runs
// the instance (restarted after failures like a local service's). The
// others stand by until the claim is released, then try to take it.
func (s *service) superviseCluster(p *process.Process, names ClusterNames) (value.Value, error) {
	log := s.sup.log.With("service", s.id, "scope", "cluster")
	// The name stays reserved on this node, as for a local service, so no
	// process of this node takes it locally.
	if err := p.Node().Reserve(s.id, p.PID()); err != nil {
		log.Error("service cannot keep its name; not started", "error", err.Error())
		return value.Nil(), err
	}
	c := &claim{names: names, key: "{service}" + s.id, self: p.PID(), stopping: s.sup.stopping,
		release: min(releaseTimeout, s.sup.grace(s.spec.Host)/4)}
	defer func() {
		// Another node may take over at once (see releaseTimeout).
		ctx, cancel := context.WithTimeout(p.Context(), c.release)
		defer cancel()
		c.names.Release(ctx, c.key, c.self)
	}()
	var lastErr string
	var lastHolder pid.PID
	for {
		changed := names.Changed(c.key)
		ctx, cancel := c.request(p)
		err := names.Claim(ctx, c.key, p.PID())
		cancel()
		wait := standbyRecheck
		switch {
		case err == nil:
			lastErr, lastHolder = "", pid.PID{}
			log.Info("this node runs the cluster's instance of the service")
			switch o, _ := s.runs(p, log, c); o {
			case cancelled:
				return value.Nil(), nil
			case lostClaim:
				log.Warn("another node took the service over; the instance here was stopped")
				continue
			case fenced:
				log.Warn("this node is cut off from NATS; its instance was terminated, since another node may start one")
				continue
			}
			// Ended or gave up: the node keeps the claim, so the service
			// is not started elsewhere, until this node is lost.
			if s.holdClaim(p, c) {
				return value.Nil(), nil
			}
			log.Warn("another node took the service over")
			continue
		case errors.Is(err, process.ErrNameTaken):
			if holder, ok := names.Holder(c.key); ok && holder != lastHolder {
				log.Info("service stands by: another node runs it", "node", holder.Node)
				lastHolder = holder
			}
		case c.stopping.Err() != nil:
			// Shutting down: the CANCEL is on its way.
		default:
			wait = claimRetry
			if err.Error() != lastErr {
				log.Error("service cannot be claimed cluster-wide; this node runs no instance until it can", "error", err.Error())
				lastErr = err.Error()
			}
		}
		if sleep(p, wait, changed) == cancelledWhileAsleep {
			return value.Nil(), nil
		}
	}
}

// holdClaim keeps the claim of a service that ended until the supervisor
// is cancelled (true) or the claim is lost (false).
func (s *service) holdClaim(p *process.Process, c *claim) bool {
	for {
		changed, lost := c.watch()
		if lost {
			return false
		}
		if sleep(p, standbyRecheck, changed) == cancelledWhileAsleep {
			return true
		}
	}
}
