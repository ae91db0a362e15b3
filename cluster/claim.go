package cluster

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
)

// Claims are names the runtime keeps for itself in the cluster-wide table,
// such as the right to run a cluster-scoped service. A claim's name starts
// with '{', which Register refuses, so a claim never collides with a name
// a program registers, and no destination resolves to it (a destination
// that starts with '{' is read as a PID). Otherwise a claim is a name: the
// first write wins, and it is released when its holder ends or the
// holder's node is lost.

// Claim makes p, a live process of this node, the holder of the claim
// name cluster-wide. When another process holds it, the error wraps
// process.ErrNameTaken and names the holder; when p holds it already,
// Claim succeeds. It fails at once, wrapping ErrNotStarted, when the names
// are not running (NATS has no JetStream, say), and wrapping
// nats.ErrDisconnected while this node's NATS connection is down.
func (nm *Names) Claim(ctx context.Context, name string, p pid.PID) error {
	opErr := func(err error) error { return &process.OpError{Op: "claim", Arg: strconv.Quote(name), Err: err} }
	if len(name) < 2 || name[0] != '{' || len(name) > maxNameLen {
		return opErr(fmt.Errorf("%w: a claim has 2 to %d bytes and starts with '{'", process.ErrInvalidName, maxNameLen))
	}
	nm.mu.RLock()
	started := nm.started
	nm.mu.RUnlock()
	if !started {
		return opErr(fmt.Errorf("cluster-wide names are not running (they need JetStream): %w", ErrNotStarted))
	}
	if !nm.t.nc.IsConnected() {
		return opErr(nats.ErrDisconnected)
	}
	return nm.register(ctx, name, p)
}

// Release frees name, a registered name or a claim, if the process p
// holds it, and reports whether it did. It does nothing while this node's
// NATS connection is down.
func (nm *Names) Release(ctx context.Context, name string, p pid.PID) bool {
	nm.mu.RLock()
	e, ok := nm.table[name]
	nm.mu.RUnlock()
	if !ok || e.pid != p || !nm.t.nc.IsConnected() {
		// Without NATS the request would wait out ctx; the other nodes
		// release the names of a node they lose.
		return false
	}
	return nm.releaseCtx(ctx, name, p) == nil
}

// Refresh reads name from the bucket into this node's copy of the table,
// for a caller that cannot wait for the watch: after NATS was away the
// watch may lag by seconds, and a registration whose answer was lost (the
// request timed out, yet the name was written) shows up only then. A name
// the bucket does not hold is left to the watch.
func (nm *Names) Refresh(ctx context.Context, name string) error {
	nm.mu.RLock()
	kv := nm.kv
	nm.mu.RUnlock()
	if kv == nil {
		return ErrNotStarted
	}
	e, err := kv.Get(ctx, nameKey(name))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("cluster: names: %w", err)
	}
	p, err := pid.Parse(string(e.Value()))
	if err != nil || p.Node == "" {
		return nil
	}
	nm.mu.Lock()
	defer nm.mu.Unlock()
	nm.setLocked(name, nameEntry{pid: p, rev: e.Revision(), gen: nm.gen})
	return nil
}

// Changed returns a channel that is closed at the next change of name (a
// registered name or a claim) in this node's copy of the table: it is
// registered, released, or taken over. Callers that wait for a name to be
// free call Changed first, then LookupName, so that no change falls
// between the two. Every caller waiting on one name shares one channel.
func (nm *Names) Changed(name string) <-chan struct{} {
	nm.mu.Lock()
	defer nm.mu.Unlock()
	ch, ok := nm.changed[name]
	if !ok {
		ch = make(chan struct{})
		nm.changed[name] = ch
	}
	return ch
}

// CutOff reports whether this node has been without its NATS connection
// for half the heartbeat timeout or longer, or has not heard its own
// heartbeat back for as long (at least one and a half heartbeat
// intervals): soon the other nodes may take it for lost and release its
// names and claims, so whatever it runs under a claim must stop. The time
// without a connection counts from the first call that saw it down: call
// CutOff often (a cluster service's supervisor does, every 100 ms). The
// missing echo is what shows a connection that hangs without closing,
// which the NATS client notices only when its pings go unanswered.
func (nm *Names) CutOff() bool {
	now := time.Now()
	nm.mu.Lock()
	defer nm.mu.Unlock()
	if nm.t.nc.IsConnected() {
		nm.offline = time.Time{}
		return nm.t.unheardFor(now) >= nm.t.fenceAfter()
	}
	if nm.offline.IsZero() {
		nm.offline = now
	}
	return now.Sub(nm.offline) >= nm.t.opts.HeartbeatTimeout/2
}

// wakeLocked wakes those waiting on a change of name. nm.mu is held.
func (nm *Names) wakeLocked(name string) {
	if ch, ok := nm.changed[name]; ok {
		close(ch)
		delete(nm.changed, name)
	}
}
