package cluster

import (
	"context"
	"fmt"
	"strconv"

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
// Claim succeeds.
func (nm *Names) Claim(ctx context.Context, name string, p pid.PID) error {
	if len(name) < 2 || name[0] != '{' || len(name) > maxNameLen {
		return &process.OpError{Op: "claim", Arg: strconv.Quote(name),
			Err: fmt.Errorf("%w: a claim has 2 to %d bytes and starts with '{'", process.ErrInvalidName, maxNameLen)}
	}
	return nm.register(ctx, name, p)
}

// Release frees name, a registered name or a claim, if the process p
// holds it, and reports whether it did. It does nothing while this node's
// NATS connection is down.
func (nm *Names) Release(ctx context.Context, name string, p pid.PID) bool {
	nm.mu.RLock()
	e, ok := nm.table[name]
	kv := nm.kv
	nm.mu.RUnlock()
	if !ok || e.pid != p || kv == nil || !nm.t.nc.IsConnected() {
		// Without NATS the request would wait out ctx; the other nodes
		// release the names of a node they lose.
		return false
	}
	if err := kv.Delete(ctx, nameKey(name), jetstream.LastRevision(e.rev)); err != nil {
		return false
	}
	nm.mu.Lock()
	if cur, ok := nm.table[name]; ok && cur.rev == e.rev {
		delete(nm.table, name)
		nm.wakeLocked(name)
	}
	nm.mu.Unlock()
	return true
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

// wakeLocked wakes those waiting on a change of name. nm.mu is held.
func (nm *Names) wakeLocked(name string) {
	if ch, ok := nm.changed[name]; ok {
		close(ch)
		delete(nm.changed, name)
	}
}
