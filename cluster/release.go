package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// Releasing names: when their holders end (the keeper), when their node
// is lost (nodeDown), and on request. Every release goes by value: the
// name is deleted only if the bucket holds it for the releasing PID.

// errNotHeld: the name is not held by the process that would release it.
var errNotHeld = errors.New("the name is not held by that process")

// release deletes name from the bucket if the process p holds it there,
// and reports whether it did. Close ends a release in flight: a node
// releasing many names while NATS does not answer would otherwise wait
// five seconds a name before it could stop.
func (nm *Names) release(name string, p pid.PID) bool {
	return nm.releaseUntil(context.Background(), name, p)
}

// releaseUntil is release ended also when until is: the keeper's
// releases end when the keeper is terminated, since a JetStream that does
// not answer would otherwise keep it five seconds a name past its host's
// grace, and the node's shutdown would report it still running. The names
// it leaves are released by the other nodes when this one leaves.
func (nm *Names) releaseUntil(until context.Context, name string, p pid.PID) bool {
	nm.mu.RLock()
	life := nm.ctx
	nm.mu.RUnlock()
	if life == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(life, 5*time.Second)
	defer cancel()
	defer context.AfterFunc(until, cancel)()
	return nm.releaseCtx(ctx, name, p) == nil
}

// releaseCtx deletes name from the bucket if the process p holds it
// there, as the bucket says (not this node's copy of the table): a PID is
// never issued twice, so the value tells the holder for sure, whichever
// bucket this is, and the delete is a compare-and-set on the revision
// read. It returns errNotHeld when p does not hold it. The name leaves
// this node's table at once, even when the bucket had lost it already.
func (nm *Names) releaseCtx(ctx context.Context, name string, p pid.PID) error {
	nm.mu.RLock()
	kv := nm.kv
	nm.mu.RUnlock()
	if kv == nil {
		return ErrNotStarted
	}
	defer nm.dropCarried(name, p)
	e, err := kv.Get(ctx, nameKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) && nm.carriedFor(name, p) {
		// Carried over a rebuild and not registered again yet: the other
		// nodes carry it too, until they hear it is released.
		nm.tombstone(ctx, kv, name, p)
		return nil
	}
	if errors.Is(err, jetstream.ErrKeyNotFound) || err == nil && string(e.Value()) != p.String() {
		return errNotHeld
	}
	if err != nil {
		return err
	}
	if err := kv.Delete(ctx, nameKey(name), jetstream.LastRevision(e.Revision())); err != nil {
		return err
	}
	nm.forget(name, p, e.Revision())
	return nil
}

// carriedFor reports whether the table carries name for p over a rebuild.
func (nm *Names) carriedFor(name string, p pid.PID) bool {
	nm.mu.RLock()
	defer nm.mu.RUnlock()
	cur, ok := nm.table[name]
	return ok && cur.carried && cur.pid == p
}

// tombstone tells the other nodes that name, carried over a rebuild for
// p, a process of this node that ended (or released it) before it was
// registered again, is free: they carry it while this node is up, and
// only a deletion reported by the watch drops it there. It registers
// the name for p and deletes that registration at once; when another
// process registered the name first, the other nodes have dropped the
// carried copy already, and nothing is written. A failure is left to the
// other nodes' bound (carryFor).
func (nm *Names) tombstone(ctx context.Context, kv jetstream.KeyValue, name string, p pid.PID) {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	key := nameKey(name)
	rev, err := kv.Create(rctx, key, []byte(p.String()))
	if err != nil {
		return
	}
	if kv.Delete(rctx, key, jetstream.LastRevision(rev)) == nil {
		nm.forget(name, p, rev)
	}
}

// dropCarried drops name from the table if it is carried for p: released,
// it is not to be registered again.
func (nm *Names) dropCarried(name string, p pid.PID) {
	nm.mu.Lock()
	if cur, ok := nm.table[name]; ok && cur.carried && cur.pid == p {
		delete(nm.table, name)
		nm.wakeLocked(name)
	}
	nm.mu.Unlock()
}

// forget drops name, held by p and deleted at revision rev, from the
// table at once rather than when the watch reports it, and keeps a late
// report of the registration from bringing it back.
func (nm *Names) forget(name string, p pid.PID, rev uint64) {
	nm.mu.Lock()
	if cur, ok := nm.table[name]; ok && cur.pid == p {
		delete(nm.table, name)
		nm.wakeLocked(name)
	}
	if rev > nm.seen { // the watch has yet to report the registration
		nm.gone[name] = max(nm.gone[name], rev)
	}
	nm.mu.Unlock()
}

// nodeDown releases the names held by processes of a lost node whose
// PID ids are above lo and below hi (the incarnation lost: see
// Transport.peerDown), registered at revision upTo or before in the
// bucket of generation gen, and returns how many this node released.
// Every surviving node tries; the compare-and-set lets one succeed.
func (nm *Names) nodeDown(node string, gen, upTo, lo, hi uint64) int {
	var gone []holderReq
	nm.mu.RLock()
	for name, e := range nm.table {
		if e.pid.Node == node && e.pid.ID > lo && e.pid.ID < hi && e.gen == gen && !e.carried && e.rev <= upTo {
			gone = append(gone, holderReq{name: name, p: e.pid})
		}
	}
	nm.mu.RUnlock()
	released := 0
	for _, g := range gone {
		if nm.release(g.name, g.p) {
			released++
		}
	}
	return released
}

// keep is the body of the process that watches the local holders of
// cluster names and releases their names when they end.
func (nm *Names) keep(p *process.Process) (value.Value, error) {
	held := map[pid.PID]map[string]struct{}{}
	for {
		select {
		case r := <-nm.reqs:
			if r.drop {
				delete(held[r.p], r.name)
				continue
			}
			names := held[r.p]
			if names == nil {
				names = map[string]struct{}{}
				held[r.p] = names
				if err := p.Monitor(r.p); err != nil {
					delete(held, r.p)
					nm.releaseUntil(p.Context(), r.name, r.p)
					continue
				}
			}
			names[r.name] = struct{}{}
		case <-p.EventsReady():
			for {
				e, ok, _ := p.TryReceiveEventAlone()
				if !ok {
					break
				}
				if e.Kind == process.EventCancel { // the node shuts down
					return value.Nil(), nil
				}
				if e.Kind != process.EventExit {
					continue
				}
				for name := range held[e.From] {
					nm.releaseUntil(p.Context(), name, e.From)
				}
				delete(held, e.From)
			}
		case <-p.Context().Done():
			return value.Nil(), nil
		}
	}
}
