package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsrelay/wsrelay/internal/logtext"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// Names is the cluster-wide name table (the CONSISTENT scope), kept in a
// NATS JetStream key-value bucket, <cluster>_names. Registering is a
// compare-and-set create: when several nodes register one name at once,
// exactly one succeeds and the others are told who holds it. A name is
// released when its process ends (this node watches its holders) or its
// node is lost (the surviving nodes delete its names; the compare-and-set
// makes one of them do it). Every node keeps a copy of the table, fed by a
// watch of the bucket, so lookups cost no round trip; a lookup may lag a
// registration made on another node by the time the update takes to
// arrive.
//
// Give a Names to process.Options.ClusterNames and the node resolves
// cluster names before its own.
type Names struct {
	t   *Transport
	log *slog.Logger

	mu      sync.RWMutex
	table   map[string]nameEntry
	gone    map[string]uint64        // names this node deleted before the watch reported their registration: the revision, until the deletion is reported
	seen    uint64                   // the latest revision the watch reported (revisions grow across the bucket)
	changed map[string]chan struct{} // closed at the next change of a name (Changed)
	offline time.Time                // when CutOff first saw NATS away; zero while connected
	kv      jetstream.KeyValue
	reqs    chan holderReq
	ctx     context.Context // ends at Close: releases in flight give up
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	keeper  pid.PID
	started bool
	swept   atomic.Uint64 // sweeps made while the connection was steady
}

type nameEntry struct {
	pid pid.PID
	rev uint64
}

type holderReq struct {
	name string
	e    nameEntry
	drop bool // the holder released the name: stop keeping it
}

// maxNameLen bounds a cluster name, which becomes a key.
const maxNameLen = 256

// keeperHost is the process host of the process that watches holders.
const keeperHost = "cluster:names"

// NewNames returns the name table of t's cluster; Start it after t.
func NewNames(t *Transport) *Names {
	return &Names{t: t, log: t.log, table: map[string]nameEntry{}, gone: map[string]uint64{}, changed: map[string]chan struct{}{},
		reqs: make(chan holderReq, 256)}
}

// Start opens (or creates) the bucket, loads the table, releases names an
// earlier incarnation of this node left behind, and starts watching. The
// transport must be started. JetStream must be enabled on the NATS server.
func (nm *Names) Start(ctx context.Context) error {
	t := nm.t
	js, err := jetstream.New(t.nc)
	if err != nil {
		return fmt.Errorf("cluster: names: %w", err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: t.opts.Cluster + "_names", History: 1, Replicas: t.opts.NamesReplicas})
	if err != nil {
		return fmt.Errorf("cluster: names: open bucket %s_names (is JetStream on?): %w", t.opts.Cluster, err)
	}
	wctx, cancel := context.WithCancel(context.Background())
	w, err := kv.WatchAll(wctx)
	if err != nil {
		cancel()
		return fmt.Errorf("cluster: names: watch: %w", err)
	}
	// The first updates are the table as it is; a nil entry ends them.
	for loaded := false; !loaded; {
		select {
		case e := <-w.Updates():
			if e == nil {
				loaded = true
			} else {
				nm.apply(e)
			}
		case <-ctx.Done():
			cancel()
			_ = w.Stop()
			return fmt.Errorf("cluster: names: loading the table: %w", ctx.Err())
		}
	}
	if _, err := t.node.AddHost(keeperHost, nil); err != nil {
		cancel()
		_ = w.Stop()
		return fmt.Errorf("cluster: names: %w", err)
	}
	keeper, err := t.node.Spawn(keeperHost, nm.keep, process.SpawnOptions{})
	if err != nil {
		cancel()
		_ = w.Stop()
		return fmt.Errorf("cluster: names: %w", err)
	}
	nm.mu.Lock()
	nm.kv, nm.ctx, nm.cancel, nm.keeper, nm.started = kv, wctx, cancel, keeper, true
	nm.mu.Unlock()
	nm.wg.Add(2)
	go nm.watch(wctx, w)
	go nm.sweepLoop(wctx)
	t.names.Store(nm)
	nm.nodeDown(t.name, math.MaxUint64) // an earlier incarnation's names: none of them is ours
	return nil
}

// peerDown releases a lost node's names, away from the caller's goroutine
// (the transport's), since it talks to JetStream. It does so only when
// this node's own NATS connection has been steady for a whole
// HeartbeatTimeout: otherwise the silence may have been this node's (a
// cut it is coming back from), and the names may be a live node's,
// registered while this node was away. The sweep releases them later if
// the node stays away.
func (nm *Names) peerDown(node string) {
	nm.mu.RLock()
	defer nm.mu.RUnlock()
	if !nm.started || nm.t.steadyFor(time.Now()) < nm.t.opts.HeartbeatTimeout {
		return
	}
	upTo := nm.seen
	nm.wg.Add(1)
	go func() {
		defer nm.wg.Done()
		nm.nodeDown(node, upTo)
	}()
}

// sweepLoop sweeps the table every half HeartbeatTimeout until ctx ends.
func (nm *Names) sweepLoop(ctx context.Context) {
	defer nm.wg.Done()
	tick := time.NewTicker(nm.t.opts.HeartbeatTimeout / 2)
	defer tick.Stop()
	absent := map[string]uint64{}
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			nm.sweep(now, absent)
		}
	}
}

// sweep releases the names of this node's processes that have ended, and
// those of nodes that this node does not see up
// although its own connection has been steady for a whole
// HeartbeatTimeout, long enough to hear any live node: nodes lost while
// this node was away from NATS, and nodes it never heard from (lost
// before it started, say). absent holds, per such node, the latest
// revision the watch had reported when the node was first found so; a
// node found so again at the next sweep loses the names it held then, so
// a registration that reaches the table before its node's first heartbeat
// is safe.
func (nm *Names) sweep(now time.Time, absent map[string]uint64) {
	if nm.t.steadyFor(now) < nm.t.opts.HeartbeatTimeout {
		clear(absent)
		return
	}
	defer nm.swept.Add(1)
	holders := map[string]bool{}
	var own []holderReq
	nm.mu.RLock()
	seen := nm.seen
	for name, e := range nm.table {
		if e.pid.Node != nm.t.name {
			holders[e.pid.Node] = true
		} else {
			own = append(own, holderReq{name: name, e: e})
		}
	}
	nm.mu.RUnlock()
	// Names of this node's processes that have ended: the keeper releases
	// them as they end, but not one whose registration's answer was lost
	// (the request timed out while NATS was away, yet the name was
	// written), nor one whose release failed for the same reason.
	for _, o := range own {
		if !nm.t.node.Alive(o.e.pid) && nm.release(o.name, o.e.rev) {
			nm.log.Warn("cluster: released the name of a process of this node that has ended", "name", logtext.Cut(o.name, 64), "pid", o.e.pid.String())
		}
	}
	for node := range absent {
		if !holders[node] {
			delete(absent, node)
		}
	}
	for node := range holders {
		if nm.t.isUp(node) {
			delete(absent, node)
			continue
		}
		if upTo, ok := absent[node]; ok {
			if n := nm.nodeDown(node, upTo); n > 0 {
				nm.log.Warn("cluster: released the names of a node not heard from", "node", node, "names", n)
			}
		}
		absent[node] = seen
	}
}

// Close stops watching and keeping names (the names this node holds stay
// until its processes end or the node is seen lost).
func (nm *Names) Close() {
	nm.mu.Lock()
	if !nm.started {
		nm.mu.Unlock()
		return
	}
	nm.started = false
	cancel, keeper := nm.cancel, nm.keeper
	nm.mu.Unlock()
	nm.t.names.Store(nil)
	cancel()
	_ = nm.t.node.Terminate(keeper)
	nm.wg.Wait()
}

// LookupName returns the PID name is registered to cluster-wide.
func (nm *Names) LookupName(name string) (pid.PID, bool) {
	nm.mu.RLock()
	e, ok := nm.table[name]
	nm.mu.RUnlock()
	return e.pid, ok
}

// Register registers the local process p under name cluster-wide. If
// another process holds the name, the error wraps process.ErrNameTaken and
// names the holder.
func (nm *Names) Register(ctx context.Context, name string, p pid.PID) error {
	opErr := func(err error) error {
		return &process.OpError{Op: "register", Arg: strconv.Quote(name), Err: err}
	}
	if err := checkClusterName(name); err != nil {
		return opErr(err)
	}
	return nm.register(ctx, name, p)
}

// register is Register without the check of the name (Claim checks it).
func (nm *Names) register(ctx context.Context, name string, p pid.PID) error {
	opErr := func(err error) error {
		return &process.OpError{Op: "register", Arg: strconv.Quote(name), Err: err}
	}
	nm.mu.RLock()
	kv, started := nm.kv, nm.started
	nm.mu.RUnlock()
	if !started {
		return opErr(errNamesNotStarted)
	}
	if p.Node == "" {
		p.Node = nm.t.name
	}
	if p.Node != nm.t.name {
		return opErr(process.ErrNotLocal)
	}
	if !nm.t.node.Alive(p) {
		return opErr(process.ErrNoProc)
	}
	key := nameKey(name)
	rev, err := kv.Create(ctx, key, []byte(p.String()))
	var got jetstream.KeyValueEntry
	var gerr error
	if errors.Is(err, jetstream.ErrKeyExists) {
		got, gerr = kv.Get(ctx, key)
		if gerr == nil && !isHolder(got.Value()) {
			// No node writes anything but a PID: whoever wrote this holds
			// nothing, and the name would stay blocked for good. Clear it
			// (if it is still there) and try once more.
			if kv.Delete(ctx, key, jetstream.LastRevision(got.Revision())) == nil {
				nm.log.Warn("cluster: cleared a name held by a value that is not a PID", "name", logtext.Cut(name, 64), "bytes", len(got.Value()))
			}
			rev, err = kv.Create(ctx, key, []byte(p.String()))
			if errors.Is(err, jetstream.ErrKeyExists) {
				got, gerr = kv.Get(ctx, key)
			}
		}
	}
	if errors.Is(err, jetstream.ErrKeyExists) {
		if gerr == nil && string(got.Value()) == p.String() {
			rev, err = got.Revision(), nil // p holds it already; make sure it is kept
		} else {
			holder := "another process"
			if gerr == nil {
				holder = holderText(got.Value())
				nm.learn(name, got) // so that a lookup right after finds the holder
			}
			return opErr(fmt.Errorf("%w cluster-wide, by %s", process.ErrNameTaken, holder))
		}
	}
	if err != nil {
		// The create may have happened before the error (a context ended
		// while the answer was on its way): nobody would release it.
		nm.releaseIfHeld(name, p)
		return opErr(fmt.Errorf("cluster names: %w", err))
	}
	e := nameEntry{pid: p, rev: rev}
	nm.mu.Lock()
	if cur, ok := nm.table[name]; !ok || cur.rev < rev {
		nm.table[name] = e
		nm.wakeLocked(name)
	}
	nm.mu.Unlock()
	select {
	case nm.reqs <- holderReq{name: name, e: e}:
		return nil
	case <-ctx.Done():
		nm.release(name, rev)
		return opErr(ctx.Err())
	}
}

// Unregister releases a name held by a process of this node.
func (nm *Names) Unregister(ctx context.Context, name string) bool {
	nm.mu.RLock()
	e, ok := nm.table[name]
	kv := nm.kv
	nm.mu.RUnlock()
	if !ok || e.pid.Node != nm.t.name || kv == nil {
		return false
	}
	return kv.Delete(ctx, nameKey(name), jetstream.LastRevision(e.rev)) == nil
}

// errNamesNotStarted: Register or UnregisterBy before Start (which fails
// without JetStream) or after Close.
var errNamesNotStarted = fmt.Errorf("cluster-wide names are not running (they need JetStream on the NATS server): %w", ErrNotStarted)

// UnregisterBy releases name on behalf of the local process by: only the
// name's holder may. A name nobody holds cluster-wide is an error wrapping
// process.ErrUnknownName; one another process holds a
// *process.NameHeldError naming the holder. The release is a
// compare-and-set on the revision by registered, so it never removes a
// later holder's registration.
func (nm *Names) UnregisterBy(ctx context.Context, by pid.PID, name string) error {
	nm.mu.RLock()
	e, ok := nm.table[name]
	kv, started := nm.kv, nm.started
	nm.mu.RUnlock()
	if !started {
		return &process.OpError{Op: "unregister", Arg: strconv.Quote(name), Err: errNamesNotStarted}
	}
	if by.Node == "" {
		by.Node = nm.t.name
	}
	switch {
	case !ok:
		return &process.OpError{Op: "unregister", Arg: strconv.Quote(name), Err: process.ErrUnknownName}
	case e.pid != by:
		return &process.NameHeldError{Op: "unregister", Name: name, Holder: e.pid}
	}
	if err := kv.Delete(ctx, nameKey(name), jetstream.LastRevision(e.rev)); err != nil {
		return &process.OpError{Op: "unregister", Arg: strconv.Quote(name), Err: fmt.Errorf("cluster names: %w", err)}
	}
	nm.forget(name, e.rev)
	select { // the keeper forgets it too, so that its table stays bounded
	case nm.reqs <- holderReq{name: name, e: e, drop: true}:
	case <-ctx.Done():
	}
	return nil
}

func checkClusterName(name string) error {
	if name == "" || name[0] == '{' || len(name) > maxNameLen {
		return fmt.Errorf("%w: a cluster name has 1 to %d bytes and does not start with '{'", process.ErrInvalidName, maxNameLen)
	}
	for _, r := range name {
		if r < ' ' || r == 0x7f {
			return fmt.Errorf("%w: a name must not contain control characters", process.ErrInvalidName)
		}
	}
	return nil
}

// holderText names the holder a bucket's value says: its PID, or, for a
// value no node writes, that it is none (the value itself could be
// anything, of any length).
func holderText(v []byte) string {
	if isHolder(v) {
		return string(v)
	}
	return "a value that is not a PID (" + strconv.Itoa(len(v)) + " bytes)"
}

// isHolder reports whether v, a value in the bucket, is a PID of some
// node, as every node writes.
func isHolder(v []byte) bool {
	p, err := pid.Parse(string(v))
	return err == nil && p.Node != ""
}

// nameKey turns any name into a valid key.
func nameKey(name string) string { return "n." + base64.RawURLEncoding.EncodeToString([]byte(name)) }

// apply updates the table from the bucket. Values that are not PIDs (no
// node of this cluster writes them) are ignored.
func (nm *Names) apply(e jetstream.KeyValueEntry) {
	k := e.Key()
	if len(k) < 2 || k[:2] != "n." {
		return
	}
	raw, err := base64.RawURLEncoding.DecodeString(k[2:])
	if err != nil {
		return
	}
	name := string(raw)
	nm.mu.Lock()
	defer nm.mu.Unlock()
	nm.seen = max(nm.seen, e.Revision())
	switch e.Operation() {
	case jetstream.KeyValuePut:
		p, err := pid.Parse(string(e.Value()))
		if err != nil || p.Node == "" {
			return
		}
		if e.Revision() <= nm.gone[name] {
			return // a late report of a registration this node deleted
		}
		if cur, ok := nm.table[name]; ok && cur.rev >= e.Revision() {
			return // this node registered a newer one before the watch reported this
		}
		nm.table[name] = nameEntry{pid: p, rev: e.Revision()}
		nm.wakeLocked(name)
	default: // deleted or purged
		if cur, ok := nm.table[name]; ok && cur.rev <= e.Revision() {
			delete(nm.table, name)
			nm.wakeLocked(name)
		}
		if g, ok := nm.gone[name]; ok && g < e.Revision() {
			delete(nm.gone, name)
		}
	}
}

func (nm *Names) watch(ctx context.Context, w jetstream.KeyWatcher) {
	defer nm.wg.Done()
	defer func() {
		// Stopping deletes the watch's consumer, a JetStream request that
		// waits seconds for an answer when NATS is gone; closing the
		// connection ends the watch then, and the server drops the consumer.
		if nm.t.nc.IsConnected() {
			_ = w.Stop()
		}
	}()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				nm.apply(e)
			}
		case <-ctx.Done():
			return
		}
	}
}

// release deletes name if it is still at revision rev.
// It reports whether it did. Close ends a release in flight: a node
// releasing many names while NATS does not answer would otherwise wait
// five seconds a name before it could stop.
func (nm *Names) release(name string, rev uint64) bool {
	nm.mu.RLock()
	kv, life := nm.kv, nm.ctx
	nm.mu.RUnlock()
	if kv == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(life, 5*time.Second)
	defer cancel()
	if err := kv.Delete(ctx, nameKey(name), jetstream.LastRevision(rev)); err != nil {
		return false
	}
	nm.forget(name, rev)
	return true
}

// learn puts a holder read from the bucket in the table before the watch
// reports it. Once the watch has passed that revision the table is as new
// as the watch can make it (a later deletion may have removed the name),
// so it is left alone.
func (nm *Names) learn(name string, e jetstream.KeyValueEntry) {
	p, err := pid.Parse(string(e.Value()))
	if err != nil || p.Node == "" {
		return
	}
	nm.mu.Lock()
	if e.Revision() > nm.seen && e.Revision() > nm.gone[name] {
		nm.table[name] = nameEntry{pid: p, rev: e.Revision()}
		nm.wakeLocked(name)
	}
	nm.mu.Unlock()
}

// releaseIfHeld deletes name if p holds it in the bucket.
func (nm *Names) releaseIfHeld(name string, p pid.PID) {
	nm.mu.RLock()
	kv, life := nm.kv, nm.ctx
	nm.mu.RUnlock()
	ctx, cancel := context.WithTimeout(life, 5*time.Second)
	defer cancel()
	if e, err := kv.Get(ctx, nameKey(name)); err == nil && string(e.Value()) == p.String() {
		if kv.Delete(ctx, nameKey(name), jetstream.LastRevision(e.Revision())) == nil {
			nm.forget(name, e.Revision())
		}
	}
}

// forget drops name, deleted at revision rev, from the table at once
// rather than when the watch reports it, and keeps a late report of the
// registration from bringing it back.
func (nm *Names) forget(name string, rev uint64) {
	nm.mu.Lock()
	if cur, ok := nm.table[name]; ok && cur.rev == rev {
		delete(nm.table, name)
		nm.wakeLocked(name)
	}
	if rev > nm.seen { // the watch has yet to report the registration
		nm.gone[name] = max(nm.gone[name], rev)
	}
	nm.mu.Unlock()
}

// nodeDown releases the names held by processes of a lost node,
// registered at revision upTo or before, and returns how many this node
// released. Every surviving node tries; the compare-and-set lets one
// succeed.
func (nm *Names) nodeDown(node string, upTo uint64) int {
	var gone []holderReq
	nm.mu.RLock()
	for name, e := range nm.table {
		if e.pid.Node == node && e.rev <= upTo {
			gone = append(gone, holderReq{name: name, e: e})
		}
	}
	nm.mu.RUnlock()
	released := 0
	for _, g := range gone {
		if nm.release(g.name, g.e.rev) {
			released++
		}
	}
	return released
}

// keep is the body of the process that watches the local holders of
// cluster names and releases their names when they end.
func (nm *Names) keep(p *process.Process) (value.Value, error) {
	held := map[pid.PID]map[string]uint64{}
	for {
		select {
		case r := <-nm.reqs:
			if r.drop {
				if held[r.e.pid][r.name] == r.e.rev {
					delete(held[r.e.pid], r.name)
				}
				continue
			}
			names := held[r.e.pid]
			if names == nil {
				names = map[string]uint64{}
				held[r.e.pid] = names
				if err := p.Monitor(r.e.pid); err != nil {
					nm.release(r.name, r.e.rev)
					continue
				}
			}
			names[r.name] = r.e.rev
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
				for name, rev := range held[e.From] {
					nm.release(name, rev)
				}
				delete(held, e.From)
			}
		case <-p.Context().Done():
			return value.Nil(), nil
		}
	}
}
