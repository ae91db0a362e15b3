package cluster

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsrelay/wsrelay/internal/logtext"
	"github.com/wsrelay/wsrelay/pid"
)

// The guard of the names bucket. The bucket can be lost under running
// nodes: the NATS server that kept it restarts with an empty store (an
// embedded one, on a node that was killed), someone deletes or purges its
// stream, or the nodes reach a new JetStream domain. The NATS client does
// not say so in a way a node can rely on (an ordered consumer may even
// follow a new stream of the same name from the sequence it had reached,
// silently skipping what lies below), so every node checks the bucket
// itself, every half HeartbeatTimeout while connected (a reconnection
// included) and at once when its watch ends:
//
//   - the stream is not found: the bucket is gone;
//   - its creation time is not the one the table was built from: it was
//     replaced (deleted and made again, a new server or domain);
//   - its last sequence is below the latest revision the watch reported,
//     or its first sequence above the revision of a name the table holds:
//     what the table holds is no longer in it (purged).
//
// Then the node rebuilds: it opens the bucket (making it when it is
// gone: the first node to do so makes it, the others find it), loads it
// with a new watch, and swaps its table for what it read. Each name the
// table held for a process that may be alive but the new bucket lacks is
// carried over (still resolves) while its holder registers it again: a
// name of one of this node's live processes is registered again at once,
// a compare-and-set create like any registration, so the first write
// wins; a name of another node's process is kept while that node is up,
// until it registers the name again (its own guard does, within a check
// or two of its own rebuild) or tells that its holder ended (a
// registration deleted at once: see tombstone), or for carryFor at most.
// Carrying them over keeps a name held by a live process from looking
// free for the moment the bucket is empty, so a cluster service's standby
// nodes do not start a second instance while its node, however loaded,
// registers the first one's claim again.
//
// A process of this node that finds its name taken in the new bucket by
// another process loses it: the table holds the winner, the node's own
// registry drops the loser's registration of the name (a Lua
// CONSISTENT registration holds it there too), and the log says so.

// carryFor bounds how long a name of another node's process is carried
// over a rebuild while that node stays up without registering it again
// or telling that its holder ended: a safety net for a node that cannot
// reach the bucket although its heartbeats arrive. That node checks the
// bucket every half HeartbeatTimeout, so twenty timeouts leave it forty
// checks, each bounded by requestTimeout: a node loaded enough to miss
// them all would miss its heartbeats too, and be seen down.
func (nm *Names) carryFor() time.Duration { return 20 * nm.t.opts.HeartbeatTimeout }

// requestTimeout bounds one JetStream request of the guard.
const requestTimeout = 5 * time.Second

// opened is a bucket read through a new watch: the table it holds, not
// yet installed.
type opened struct {
	kv      jetstream.KeyValue
	created time.Time
	table   map[string]nameEntry // without generation
	seen    uint64
	w       jetstream.KeyWatcher
	wctx    context.Context
	cancel  context.CancelFunc
	nm      *Names
}

// stop ends the watch. Stopping deletes the watch's consumer, a
// JetStream request that waits seconds for an answer when NATS is gone;
// ending the context is enough then (the server drops the consumer when
// it is inactive).
func (b *opened) stop() {
	b.cancel()
	if b.nm.t.nc.IsConnected() {
		_ = b.w.Stop()
	}
}

// open opens the bucket, making it when it does not exist, and reads it
// through a new watch that lasts until life ends or the watch is
// stopped. ctx bounds the opening.
func (nm *Names) open(ctx, life context.Context) (*opened, error) {
	cfg := nm.bucketConfig()
	kv, err := nm.js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cluster: names: open bucket %s (is JetStream on?): %w", cfg.Bucket, err)
	}
	created, err := streamCreated(ctx, kv)
	if err != nil {
		return nil, fmt.Errorf("cluster: names: bucket %s: %w", cfg.Bucket, err)
	}
	wctx, cancel := context.WithCancel(life)
	w, err := kv.WatchAll(wctx)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("cluster: names: watch: %w", err)
	}
	b := &opened{kv: kv, created: created, table: map[string]nameEntry{}, w: w, wctx: wctx, cancel: cancel, nm: nm}
	// The first updates are the table as it is; a nil entry ends them.
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				b.stop()
				return nil, fmt.Errorf("cluster: names: the watch of bucket %s ended while loading it", cfg.Bucket)
			}
			if e == nil {
				return b, nil
			}
			b.seen = max(b.seen, e.Revision())
			name, ok := entryName(e.Key())
			if !ok {
				continue
			}
			p, err := pid.Parse(string(e.Value()))
			if e.Operation() == jetstream.KeyValuePut && err == nil && p.Node != "" {
				b.table[name] = nameEntry{pid: p, rev: e.Revision()}
			} else {
				delete(b.table, name)
			}
		case <-ctx.Done():
			b.stop()
			return nil, fmt.Errorf("cluster: names: loading the table: %w", ctx.Err())
		}
	}
}

// streamCreated returns when the bucket's stream was made.
func streamCreated(ctx context.Context, kv jetstream.KeyValue) (time.Time, error) {
	info, err := streamInfo(ctx, kv)
	if err != nil {
		return time.Time{}, err
	}
	return info.Created, nil
}

// streamInfo returns what JetStream says of the bucket's stream.
func streamInfo(ctx context.Context, kv jetstream.KeyValue) (*jetstream.StreamInfo, error) {
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, err
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	if !ok || bs.StreamInfo() == nil {
		return nil, errors.New("no stream information")
	}
	return bs.StreamInfo(), nil
}

// install makes b the bucket the table is built from, as the next
// generation, carrying over the names b lacks whose holders may be alive
// (see above), and starts applying b's watch. nm.mu is held. It returns
// the names read and carried.
func (nm *Names) install(b *opened) (names, carried int) {
	nm.gen++
	gen := nm.gen
	until := time.Now().Add(nm.carryFor())
	table := make(map[string]nameEntry, len(b.table))
	for name, e := range b.table {
		e.gen = gen
		table[name] = e
	}
	for name, e := range nm.table {
		if _, ok := table[name]; ok || !nm.t.mayLive(e.pid) {
			continue
		}
		e.carried, e.gen, e.rev = true, gen, 0
		if e.pid.Node != nm.t.name {
			if e.until.IsZero() || e.until.After(until) {
				e.until = until
			}
		}
		table[name] = e
		carried++
	}
	for name, e := range nm.table {
		n, ok := table[name]
		if !ok || n.pid != e.pid {
			nm.wakeLocked(name)
		}
		if ok && n.pid != e.pid && !n.carried && e.pid.Node == nm.t.name && nm.t.node.Alive(e.pid) {
			// Another process registered it in the new bucket first.
			nm.losers = append(nm.losers, loser{name: name, p: e.pid, holder: n.pid})
		}
	}
	for name := range table {
		if _, ok := nm.table[name]; !ok {
			nm.wakeLocked(name)
		}
	}
	nm.table, nm.seen, nm.gone = table, b.seen, map[string]uint64{}
	nm.kv, nm.created, nm.stopWatch = b.kv, b.created, b.stop
	nm.watchDied.Store(false)
	nm.wg.Add(1)
	go nm.watch(b.wctx, gen, b.w)
	return len(b.table), carried
}

// guardLoop checks the bucket every half HeartbeatTimeout, and when the
// watch ends, until ctx ends.
func (nm *Names) guardLoop(ctx context.Context) {
	defer nm.wg.Done()
	tick := time.NewTicker(nm.t.opts.HeartbeatTimeout / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-nm.rewatch:
		case <-tick.C:
		}
		nm.guard(ctx)
	}
}

// guard checks the bucket once, rebuilds the table when the bucket was
// lost or replaced, and registers again the names carried over.
func (nm *Names) guard(ctx context.Context) {
	if !nm.t.nc.IsConnected() {
		return
	}
	if why := nm.lostWhy(ctx); why != "" {
		nm.rebuild(ctx, why)
	}
	nm.reconcile(ctx)
	nm.tellLosers(ctx)
	nm.endCheck()
}

// endCheck counts a check made, and the checks in a row that met an
// error.
func (nm *Names) endCheck() {
	nm.checks.Add(1)
	if nm.failed.Swap(false) {
		nm.failing.Add(1)
	} else {
		nm.failing.Store(0)
	}
}

// lostWhy checks the bucket against the table and says why the table
// must be rebuilt; "" when it need not (or the bucket cannot be read just
// now: the next check tries again).
func (nm *Names) lostWhy(ctx context.Context) string {
	nm.mu.RLock()
	kv, created, seen := nm.kv, nm.created, nm.seen
	nm.mu.RUnlock()
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	info, err := streamInfo(rctx, kv)
	cancel()
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound) || errors.Is(err, jetstream.ErrBucketNotFound):
		return "the bucket is gone"
	case err != nil:
		if ctx.Err() == nil {
			nm.warn("cluster: cannot check the names bucket; trying again", "error", err.Error())
		}
		if nm.watchDied.Load() {
			return "the watch of the bucket ended"
		}
		return ""
	case !info.Created.Equal(created):
		return "the bucket was replaced (its stream has another creation time)"
	case info.State.LastSeq < seen:
		// seen was read before the answer: the stream had reached it.
		return "the bucket's sequence went backwards"
	case nm.watchDied.Load():
		return "the watch of the bucket ended"
	case nm.purged(info.State):
		return "names were purged from the bucket"
	}
	return ""
}

// purged reports whether the table holds a name registered below the
// stream's first sequence: its registration is no longer in the stream,
// which a deletion never does to the latest registration of a name.
// It judges only once the watch has reported everything up to the
// stream's last sequence, read with the first: until then a deletion may
// be on its way that took the registration out.
func (nm *Names) purged(st jetstream.StreamState) bool {
	nm.mu.RLock()
	defer nm.mu.RUnlock()
	if nm.seen < st.LastSeq {
		return false
	}
	for _, e := range nm.table {
		if !e.carried && e.rev < st.FirstSeq {
			return true
		}
	}
	return false
}

// rebuild builds the table again from the bucket as it is now (making it
// when it is gone).
func (nm *Names) rebuild(ctx context.Context, why string) {
	octx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	b, err := nm.open(octx, ctx)
	if err != nil {
		if ctx.Err() == nil {
			nm.warn("cluster: the names bucket was lost or replaced, and cannot be read again yet; trying again", "reason", why, "error", err.Error())
		}
		return
	}
	nm.mu.Lock()
	if !nm.started {
		nm.mu.Unlock()
		b.stop()
		return
	}
	stop := nm.stopWatch
	names, carried := nm.install(b)
	nm.mu.Unlock()
	stop()
	nm.rebuilds.Add(1)
	nm.log.Warn("cluster: the names bucket was lost or replaced; this node rebuilt its table from the bucket as it is",
		"reason", why, "names", names, "carried_over", carried)
}

// reconcile registers again the carried names of this node's live
// processes, drops those of processes that ended, and drops the carried
// names of other nodes' processes that are down or past their time.
func (nm *Names) reconcile(ctx context.Context) {
	type carriedName struct {
		name string
		p    pid.PID
	}
	var own []carriedName
	now := time.Now()
	nm.mu.Lock()
	gen, kv := nm.gen, nm.kv
	for name, e := range nm.table {
		switch {
		case !e.carried:
		case e.pid.Node == nm.t.name:
			own = append(own, carriedName{name, e.pid})
		case now.After(e.until) || !nm.t.mayLive(e.pid):
			delete(nm.table, name)
			nm.wakeLocked(name)
		}
	}
	nm.mu.Unlock()
	// Claims first: the other nodes carry them for a while only, and a
	// claim that looks free there lets a standby node start a service.
	slices.SortFunc(own, func(x, y carriedName) int {
		return cmp.Compare(claimFirst(x.name), claimFirst(y.name))
	})
	// A few at a time: one by one, a node holding many names would take
	// longer than the other nodes carry them over.
	sem := make(chan struct{}, reregisterAtOnce)
	var wg sync.WaitGroup
	for _, c := range own {
		if ctx.Err() != nil {
			break
		}
		if !nm.t.node.Alive(c.p) {
			nm.dropCarried(c.name, c.p)
			nm.tombstone(ctx, kv, c.name, c.p)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			nm.reregister(ctx, kv, gen, c.name, c.p)
		})
	}
	wg.Wait()
}

// reregisterAtOnce bounds the registrations the guard has in flight.
const reregisterAtOnce = 16

// claimFirst orders claims (names starting with '{') before names.
func claimFirst(name string) int {
	if strings.HasPrefix(name, "{") {
		return 0
	}
	return 1
}

// reregister registers name, carried for the live process p of this
// node, in the bucket of generation gen. First write wins: when another
// process registered it there first, p loses it (tellLosers).
func (nm *Names) reregister(ctx context.Context, kv jetstream.KeyValue, gen uint64, name string, p pid.PID) {
	rctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	key := nameKey(name)
	rev, err := kv.Create(rctx, key, []byte(p.String()))
	if errors.Is(err, jetstream.ErrKeyExists) {
		got, gerr := kv.Get(rctx, key)
		if gerr != nil {
			return // the next check tries again
		}
		if string(got.Value()) != p.String() {
			// Another process holds it (setLocked records p as a loser),
			// or a value no node writes, which the next try clears.
			holder, perr := pid.Parse(string(got.Value()))
			if perr != nil || holder.Node == "" {
				return
			}
			nm.mu.Lock()
			if cur, ok := nm.table[name]; ok && cur.carried && cur.pid == p && nm.gen == gen {
				nm.setLocked(name, nameEntry{pid: holder, rev: got.Revision(), gen: gen})
			}
			nm.mu.Unlock()
			return
		}
		rev, err = got.Revision(), nil
	}
	if err != nil {
		if ctx.Err() == nil {
			nm.warn("cluster: cannot register a name again in the names bucket; trying again", "name", logtext.Cut(name, 64), "error", err.Error())
		}
		return
	}
	nm.mu.Lock()
	cur, ok := nm.table[name]
	still := ok && cur.carried && cur.pid == p && nm.gen == gen
	if still {
		nm.table[name] = nameEntry{pid: p, rev: rev, gen: gen} // same holder: nobody to wake
	}
	nm.mu.Unlock()
	if !still && !ok && nm.generation() == gen {
		// Released (or ended) while the registration was out.
		nm.release(name, p)
	}
}

// loser is a process of this node that lost its name to another process
// when the bucket was rebuilt.
type loser struct {
	name      string
	p, holder pid.PID
}

// tellLosers deals with the processes of this node that lost their names
// in a rebuilt bucket: the node's own registry drops their registration
// of the name, the keeper forgets it, and the log names them.
func (nm *Names) tellLosers(ctx context.Context) {
	nm.mu.Lock()
	losers := nm.losers
	nm.losers = nil
	nm.mu.Unlock()
	for _, l := range losers {
		_ = nm.t.node.UnregisterBy(l.p, l.name)
		select {
		case nm.reqs <- holderReq{name: l.name, p: l.p, drop: true}:
		case <-ctx.Done():
		}
		nm.log.Warn("cluster: a process of this node lost its name: the names bucket was lost, and another process registered the name in the new one first",
			"name", logtext.Cut(l.name, 64), "pid", l.p.String(), "holder", l.holder.String())
	}
}

// warn logs a line about the bucket for checks that keep failing (a
// JetStream that does not answer, permissions that refuse a request):
// at the 1st, 2nd, 4th, 8th... failing check in a row, at most one line
// a second.
func (nm *Names) warn(msg string, args ...any) {
	nm.failed.Store(true)
	if n := nm.failing.Load() + 1; n&(n-1) == 0 {
		nm.warnings.Log(nm.log, slog.LevelWarn, "names bucket warnings", msg, append(args, "failing_checks", n)...)
	}
}
