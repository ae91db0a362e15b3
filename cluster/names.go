package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsrelay/wsrelay/internal/logtext"
	"github.com/wsrelay/wsrelay/internal/ratelog"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
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
// arrive. A lookup answers only holders that may be alive: a name held by
// a process of a node seen down, or of an earlier incarnation of its node,
// resolves to nothing while its release is pending (mayLive).
//
// The bucket itself may be lost (NATS restarted with an empty store, the
// stream deleted) or replaced: every node checks it (guard.go), rebuilds
// its table from the bucket as it is, and registers again the names its
// own live processes held.
//
// Give a Names to process.Options.ClusterNames and the node resolves
// cluster names before its own.
type Names struct {
	t   *Transport
	log *slog.Logger
	js  jetstream.JetStream

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

	// The bucket as this node knows it (guard.go): gen counts the
	// buckets this node has built its table from, created is the
	// current one's stream creation time, stopWatch ends its watch.
	gen       uint64
	created   time.Time
	stopWatch func()
	watchDied atomic.Bool      // the watch ended by itself: the guard makes a new one
	rewatch   chan struct{}    // 1-slot: wakes the guard when the watch ends
	rebuilds  atomic.Uint64    // tables rebuilt from a lost or replaced bucket
	checks    atomic.Uint64    // checks of the bucket made
	warnings  *ratelog.Limiter // lines about a bucket that cannot be read
	failed    atomic.Bool      // the current check met an error
	failing   atomic.Uint64    // checks in a row that met an error
	losers    []loser          // processes of this node that lost their names in a rebuild, to tell (tellLosers)
}

// nameEntry is a holder in the table: its PID and the revision of its
// registration in the bucket of generation gen. A carried entry is one
// the bucket lost, kept while its holder registers it again (guard.go):
// it has no revision in the current bucket.
type nameEntry struct {
	pid     pid.PID
	rev     uint64
	gen     uint64
	carried bool
	until   time.Time // a carried entry of another node's process is dropped then
}

type holderReq struct {
	name string
	p    pid.PID
	drop bool // the holder released the name: stop keeping it
}

// maxNameLen bounds a cluster name, which becomes a key.
const maxNameLen = 256

// keeperHost is the process host of the process that watches holders.
const keeperHost = "cluster:names"

// NewNames returns the name table of t's cluster; Start it after t.
func NewNames(t *Transport) *Names {
	return &Names{t: t, log: t.log, table: map[string]nameEntry{}, gone: map[string]uint64{}, changed: map[string]chan struct{}{},
		reqs: make(chan holderReq, 256), rewatch: make(chan struct{}, 1), warnings: ratelog.New(1)}
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
	nm.js = js
	life, cancel := context.WithCancel(context.Background())
	b, err := nm.open(ctx, life)
	if err != nil {
		cancel()
		return err
	}
	if _, err := t.node.AddHost(keeperHost, nil); err != nil {
		cancel()
		b.stop()
		return fmt.Errorf("cluster: names: %w", err)
	}
	keeper, err := t.node.Spawn(keeperHost, nm.keep, process.SpawnOptions{})
	if err != nil {
		cancel()
		b.stop()
		return fmt.Errorf("cluster: names: %w", err)
	}
	nm.mu.Lock()
	nm.ctx, nm.cancel, nm.keeper, nm.started = life, cancel, keeper, true
	nm.install(b)
	nm.mu.Unlock()
	nm.wg.Add(2)
	go nm.sweepLoop(life)
	go nm.guardLoop(life)
	t.names.Store(nm)
	nm.nodeDown(t.name, 1, math.MaxUint64, 0, t.inc) // an earlier incarnation's names: ids below this one's
	return nil
}

// bucketConfig is the configuration of the names bucket, <cluster>_names:
// one value per key (the holder), no history.
func (nm *Names) bucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{Bucket: nm.t.opts.Cluster + "_names", History: 1, Replicas: nm.t.opts.NamesReplicas}
}

// releaseLater releases name if p holds it in the bucket, away from the
// caller's goroutine; Close ends it.
func (nm *Names) releaseLater(name string, p pid.PID) {
	nm.mu.RLock()
	defer nm.mu.RUnlock()
	if !nm.started {
		return
	}
	nm.wg.Add(1)
	go func() {
		defer nm.wg.Done()
		nm.release(name, p)
	}()
}

// peerDown releases a lost node's names, away from the caller's goroutine
// (the transport's), since it talks to JetStream. It does so only when
// this node's own NATS connection has been steady for a whole
// HeartbeatTimeout: otherwise the silence may have been this node's (a
// cut it is coming back from), and the names may be a live node's,
// registered while this node was away. The sweep releases them later if
// the node stays away.
func (nm *Names) peerDown(node string, lo, hi uint64) {
	nm.mu.RLock()
	defer nm.mu.RUnlock()
	if !nm.started || nm.t.steadyFor(time.Now()) < nm.t.opts.HeartbeatTimeout {
		return
	}
	gen, upTo := nm.gen, nm.seen
	nm.wg.Add(1)
	go func() {
		defer nm.wg.Done()
		nm.nodeDown(node, gen, upTo, lo, hi)
	}()
}

// sweepLoop sweeps the table every half HeartbeatTimeout until ctx ends.
func (nm *Names) sweepLoop(ctx context.Context) {
	defer nm.wg.Done()
	tick := time.NewTicker(nm.t.opts.HeartbeatTimeout / 2)
	defer tick.Stop()
	absent := map[string]uint64{}
	var gen uint64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if g := nm.generation(); g != gen { // revisions of another bucket
				clear(absent)
				gen = g
			}
			nm.sweep(now, gen, absent)
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
func (nm *Names) sweep(now time.Time, gen uint64, absent map[string]uint64) {
	if nm.t.steadyFor(now) < nm.t.opts.HeartbeatTimeout {
		clear(absent)
		return
	}
	defer nm.swept.Add(1)
	holders := map[string]bool{}
	var own []holderReq
	nm.mu.RLock()
	if nm.gen != gen {
		nm.mu.RUnlock()
		return
	}
	seen := nm.seen
	for name, e := range nm.table {
		switch {
		case e.carried: // not in the bucket: the guard deals with it
		case e.pid.Node != nm.t.name:
			holders[e.pid.Node] = true
		default:
			own = append(own, holderReq{name: name, p: e.pid})
		}
	}
	nm.mu.RUnlock()
	// Names of this node's processes that have ended: the keeper releases
	// them as they end, but not one whose registration's answer was lost
	// (the request timed out while NATS was away, yet the name was
	// written), nor one whose release failed for the same reason.
	for _, o := range own {
		if !nm.t.node.Alive(o.p) && nm.release(o.name, o.p) {
			nm.log.Warn("cluster: released the name of a process of this node that has ended", "name", logtext.Cut(o.name, 64), "pid", o.p.String())
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
			if n := nm.nodeDown(node, gen, upTo, 0, math.MaxUint64); n > 0 {
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
	cancel, keeper, stopWatch := nm.cancel, nm.keeper, nm.stopWatch
	nm.mu.Unlock()
	nm.t.names.Store(nil)
	cancel()
	stopWatch()
	_ = nm.t.node.Terminate(keeper)
	nm.wg.Wait()
}

// LookupName returns the PID name is registered to cluster-wide, if
// that process may be alive: a name held by a process of a node this node
// sees down (or has never heard from), of an earlier incarnation of its
// node, or of this node but ended, resolves to nothing, even while the
// bucket still holds it (its release is pending).
func (nm *Names) LookupName(name string) (pid.PID, bool) {
	p, ok := nm.Holder(name)
	if !ok || !nm.t.mayLive(p) {
		return pid.PID{}, false
	}
	return p, true
}

// Rebuilds returns how many times this node rebuilt its table because the
// bucket was lost or replaced.
func (nm *Names) Rebuilds() uint64 { return nm.rebuilds.Load() }

// Checks returns how many times this node checked that the bucket is the
// one its table was built from (about every half HeartbeatTimeout while
// connected).
func (nm *Names) Checks() uint64 { return nm.checks.Load() }

// Holder returns the PID this node's copy of the table holds name for,
// alive or not: what the bucket says, as far as this node knows. A
// cluster service's supervisor waits on it for a name to be released.
func (nm *Names) Holder(name string) (pid.PID, bool) {
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
		// while the answer was on its way): nobody would release it. Away
		// from the caller, whose context may have ended for a shutdown:
		// the release has the names' own bound.
		nm.releaseLater(name, p)
		return opErr(fmt.Errorf("cluster names: %w", err))
	}
	nm.mu.Lock()
	nm.setLocked(name, nameEntry{pid: p, rev: rev, gen: nm.gen})
	nm.mu.Unlock()
	select {
	case nm.reqs <- holderReq{name: name, p: p}:
		return nil
	case <-ctx.Done():
		// Away from the caller, as above: a release waits for JetStream
		// (up to its own bound), and a caller whose context ended for a
		// shutdown must not wait for a JetStream that may hang.
		nm.releaseLater(name, p)
		return opErr(ctx.Err())
	}
}

// setLocked records e as name's holder unless the table has a later
// registration in the same bucket; nm.mu is held. A carried entry, or one
// of an earlier bucket, is always replaced: its revision means nothing
// here.
func (nm *Names) setLocked(name string, e nameEntry) {
	cur, ok := nm.table[name]
	if ok && !cur.carried && cur.gen == e.gen && cur.rev >= e.rev {
		return
	}
	nm.table[name] = e
	if ok && cur.pid != e.pid && cur.pid.Node == nm.t.name && nm.t.node.Alive(cur.pid) {
		// A live process of this node held it, and the bucket says
		// another does, with no release between: the bucket was lost,
		// and the other registered it in the new one first.
		nm.losers = append(nm.losers, loser{name: name, p: cur.pid, holder: e.pid})
	}
	if !ok || cur.pid != e.pid || cur.carried {
		nm.wakeLocked(name)
	}
}

// Unregister releases a name held by a process of this node.
func (nm *Names) Unregister(ctx context.Context, name string) bool {
	nm.mu.RLock()
	e, ok := nm.table[name]
	nm.mu.RUnlock()
	if !ok || e.pid.Node != nm.t.name {
		return false
	}
	return nm.releaseCtx(ctx, name, e.pid) == nil
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
	started := nm.started
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
	if err := nm.releaseCtx(ctx, name, by); err != nil && !errors.Is(err, errNotHeld) {
		return &process.OpError{Op: "unregister", Arg: strconv.Quote(name), Err: fmt.Errorf("cluster names: %w", err)}
	}
	select { // the keeper forgets it too, so that its table stays bounded
	case nm.reqs <- holderReq{name: name, p: by, drop: true}:
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

// entryName returns the name a bucket key stands for; false for a key no
// node writes (strict decoding: each name has one key, so a key of
// another spelling cannot stand for a name its releases would miss).
func entryName(k string) (string, bool) {
	if len(k) < 2 || k[:2] != "n." {
		return "", false
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(k[2:])
	if err != nil {
		return "", false
	}
	return string(raw), true
}

// apply updates the table from the watch of the bucket of generation gen
// (an update of an earlier bucket's watch is dropped). Values that are not
// PIDs (no node of this cluster writes them) are ignored.
func (nm *Names) apply(gen uint64, e jetstream.KeyValueEntry) {
	name, ok := entryName(e.Key())
	if !ok {
		return
	}
	nm.mu.Lock()
	defer nm.mu.Unlock()
	if gen != nm.gen {
		return
	}
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
		nm.setLocked(name, nameEntry{pid: p, rev: e.Revision(), gen: gen})
	default: // deleted or purged
		cur, ok := nm.table[name]
		switch {
		case ok && !cur.carried && cur.rev <= e.Revision() && cur.pid.Node == nm.t.name &&
			!strings.HasPrefix(name, "{") && nm.t.node.Alive(cur.pid):
			// Another node deleted the name of a live process of this
			// node: it took this node for lost (a cut longer than the
			// heartbeat timeout). The process still holds the name here,
			// so the entry is carried: the guard registers it again
			// (first write wins) or tells the holder it lost the name.
			// This node's own releases drop the entry first (forget).
			// Claims are left to their supervisors, which fence
			// themselves when cut.
			cur.carried, cur.rev = true, 0
			nm.table[name] = cur
		case ok && (cur.carried && cur.pid.Node != nm.t.name || !cur.carried && cur.rev <= e.Revision()):
			// A carried entry of this node's process stays: the guard
			// registers it again, or tells its holder it lost the name.
			delete(nm.table, name)
			nm.wakeLocked(name)
		}
		if g, ok := nm.gone[name]; ok && g < e.Revision() {
			delete(nm.gone, name)
		}
	}
}

// watch applies the updates of the watch of the bucket of generation gen
// until ctx ends. When the watch ends by itself (the NATS client gave up
// on its consumer: the stream is gone, say), it wakes the guard, which
// checks the bucket and makes a new watch.
func (nm *Names) watch(ctx context.Context, gen uint64, w jetstream.KeyWatcher) {
	defer nm.wg.Done()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() == nil {
					nm.watchDied.Store(true)
					select {
					case nm.rewatch <- struct{}{}:
					default:
					}
				}
				return
			}
			if e != nil {
				nm.apply(gen, e)
			}
		case <-ctx.Done():
			return
		}
	}
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
		nm.setLocked(name, nameEntry{pid: p, rev: e.Revision(), gen: nm.gen})
	}
	nm.mu.Unlock()
}

// generation returns the generation of the bucket the table is built
// from.
func (nm *Names) generation() uint64 {
	nm.mu.RLock()
	defer nm.mu.RUnlock()
	return nm.gen
}
