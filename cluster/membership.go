package cluster

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/internal/logtext"
	"github.com/wsrelay/wsrelay/process/transport"
)

// Membership. Every node publishes a heartbeat on <cluster>.hb every
// HeartbeatInterval and listens to everyone's:
//
//	version 1 byte | incarnation 8 bytes LE | flags 1 byte | uvarint length + node name
//
// flags: hbHello (a node starting: answer with your heartbeat now, so it
// learns its peers at once) and hbBye (a node leaving on purpose: down at
// the next expiry check, unless the goodbye in its batch stream, kindBye,
// took it down already, in order after its last signals). A node is up
// from its first heartbeat until it is silent for HeartbeatTimeout or
// says bye. Going down, its PIDs' watchers and links on this node hear
// noconnection (transport.Node.NodeDown) and what waited to be sent to it
// is dropped; sends to it fail with ErrNodeDown.
//
// A node that comes back without restarting (same incarnation: its NATS
// connection was cut, or its heartbeats were late) was forgotten here, so
// it is sent kindReset first: it then forgets this node's relations too,
// and the two start again from nothing on both sides. When both sides
// declared each other down (a cut NATS connection usually does that), each
// already forgot the other's relations before taking it back, so a reset
// that arrives within HeartbeatTimeout of taking its sender back is
// ignored: acting on it would drop relations made since.
//
// Incarnations. A node's incarnation is its boot time in nanoseconds (set
// by Start; a number drawn at random before): it tells one run of a node
// from the next, and every PID id of the run is above it, which lets
// Names.LookupName tell an earlier run's PIDs from this one's. Membership
// puts no order on incarnations: no incarnation is "newer" than another,
// so a host whose clock went back, or a clock far ahead, changes nothing
// here, and no heartbeat claiming the greatest incarnation can shut the
// name's real node out for good (with an order, every later incarnation
// of it would rank below).
//
// The rule: while a node name is up as incarnation i, a heartbeat of that
// name with any other incarnation j is ignored (logged, 1st, 2nd, 4th…);
// j is admitted by the first heartbeat it sends after i is down, that is
// after i was silent for HeartbeatTimeout or said goodbye. Batches from
// j meanwhile are dropped as stale, and j is sent kindReset when it is
// admitted (it may have made relations here that were dropped). What one
// heartbeat, forged or late, can do, case by case:
//
//   - the name is up as i, j ≠ i: nothing. The real node stays up as long
//     as it keeps its heartbeats, so no forged heartbeat takes a live node
//     down, runs its cluster services a second time, or outlasts anything.
//   - the name is down or unknown: j is admitted and, sending no second
//     heartbeat, is down again HeartbeatTimeout later. A real incarnation
//     starting meanwhile is admitted then. So one message delays a node's
//     admission by at most HeartbeatTimeout, whatever number it claims.
//   - j = i, the real incarnation (replayed): it keeps i up one timeout
//     longer than its last real heartbeat; a goodbye takes it down, to be
//     taken back with a reset at its next heartbeat.
//
// A node restarted before the others took its old incarnation for lost
// (a crash and a restart within the timeout) waits until they do: at
// most HeartbeatTimeout after the old one's last heartbeat. One restarted
// after a goodbye is admitted at once. Two live nodes under one name (a
// mistake, logged by both) do not take turns: the one seen up first stays.
// The nodes of one NATS are trusted not to forge (the NATS credentials
// keep others out; see docs/cluster.md): the rule bounds the damage of a
// forged or replayed heartbeat, not of a forged batch.

const (
	hbHello byte = 1 << iota
	hbBye
)

func (t *Transport) publishHeartbeat(flags byte) {
	b := make([]byte, 0, 16+len(t.name))
	b = append(b, wireVersion)
	b = binary.LittleEndian.AppendUint64(b, t.inc)
	b = append(b, flags)
	b = appendString(b, t.name)
	if err := t.nc.Publish(t.heartbeatSubject(), b); err != nil && flags&hbBye == 0 {
		t.stats.publishErrors.Add(1)
	}
}

func (t *Transport) heartbeatLoop() {
	defer t.wg.Done()
	every, silence := t.periods()
	tick := time.NewTicker(every)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-t.stop:
			return
		case now := <-tick.C:
			t.noteConnection(now)
			if now.Sub(last) >= t.opts.HeartbeatInterval-every/2 {
				t.publishHeartbeat(0)
				last = now
			}
			t.expire(now, silence)
			t.checkDropped()
		}
	}
}

// noteConnection records now as unsteady when this node's NATS connection
// is down, has reconnected since the last look (the reconnect count
// catches a break shorter than the heartbeat loop's period), or has not
// echoed this node's heartbeat for unsteadyAfter.
func (t *Transport) noteConnection(now time.Time) {
	n := t.nc.Stats().Reconnects
	if !t.nc.IsConnected() || t.reconnects.Swap(n) != n || t.unheardFor(now) >= t.unsteadyAfter() {
		t.unsteady.Store(t.since(now))
	}
}

// since returns now as nanoseconds since the transport was made, on the
// monotonic clock.
func (t *Transport) since(now time.Time) int64 { return int64(now.Sub(t.epoch)) }

// unheardFor returns how long ago this node last heard its own heartbeat
// back. A connection that hangs (the TCP connection neither works nor
// closes) looks connected to the NATS client until its pings go
// unanswered, minutes by default; the missing echo shows it within a
// heartbeat interval or two.
func (t *Transport) unheardFor(now time.Time) time.Duration {
	return time.Duration(t.since(now) - t.heardSelf.Load())
}

// fenceAfter is how long this node may go without hearing its own
// heartbeat before it takes itself for cut off and stops what it runs
// under a claim: half the timeout, so it does before the others take it
// for lost (Options requires a timeout of three intervals and 500 ms at
// least for that), but at least one and a half intervals, so that
// heartbeats on time never trip it.
func (t *Transport) fenceAfter() time.Duration {
	return max(t.opts.HeartbeatTimeout/2, t.opts.HeartbeatInterval*3/2)
}

// unsteadyAfter is how long this node may go without hearing its own
// heartbeat before its connection counts as unsteady: one and a half
// periods of the heartbeat loop. That is sooner than fenceAfter, since
// an unsteady node only holds back releasing names (of peers it takes for
// lost: its connection may have hung before they went silent), and it
// must know before it takes the first peer for lost.
func (t *Transport) unsteadyAfter() time.Duration {
	every, _ := t.periods()
	// Publishes happen at the first tick HeartbeatInterval-every/2 after
	// the last one.
	period := every
	for period < t.opts.HeartbeatInterval-every/2 {
		period += every
	}
	return period * 3 / 2
}

// periods returns the heartbeat loop's period and the silence after which
// it takes a peer for lost (the timeout less one period: a node is down
// at most the timeout after its last heartbeat).
func (t *Transport) periods() (every, silence time.Duration) {
	every = min(t.opts.HeartbeatInterval, t.opts.HeartbeatTimeout/4)
	return every, t.opts.HeartbeatTimeout - every
}

// steadyFor returns how long this node's NATS connection has been up
// without a break, as of the heartbeat loop's last look. A peer that went
// silent while this node was away may be alive: only after a whole
// HeartbeatTimeout of steady connection does its silence mean it is lost.
func (t *Transport) steadyFor(now time.Time) time.Duration {
	if !t.nc.IsConnected() {
		return 0
	}
	return time.Duration(t.since(now) - t.unsteady.Load())
}

// isUp reports whether this node sees the node name up.
func (t *Transport) isUp(name string) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p := t.peers[name]
	return p != nil && p.up
}

// expire takes down the peers silent for longer than silence. The loop
// checks every period, and silence is the timeout less one period, so a
// node is down at most the timeout after its last heartbeat.
func (t *Transport) expire(now time.Time, silence time.Duration) {
	var down []*peer
	t.mu.Lock()
	for _, p := range t.peers {
		if p.up && now.Sub(p.lastSeen) > silence {
			t.markDown(p)
			down = append(down, p)
		}
	}
	t.mu.Unlock()
	for _, p := range down {
		t.peerDown(p, "no heartbeat within "+t.opts.HeartbeatTimeout.String())
	}
}

// markDown records p down; t.mu is held. The caller then calls peerDown.
func (t *Transport) markDown(p *peer) {
	p.up = false
	p.downInc = p.inc
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
}

// peerDown tells the node that p is lost; t.mu is not held. The log line
// comes last: once it is written, the node's processes have been told.
func (t *Transport) peerDown(p *peer, why string) {
	p.drop(t)
	t.side.NodeDown(p.name)
	if nm := t.names.Load(); nm != nil {
		// The names to release are those of the incarnation lost: PID ids
		// above its number and, when another incarnation of the name was
		// heard meanwhile (a restart within the timeout), below that
		// one's, whose processes may be alive and hold names already.
		t.mu.RLock()
		lo, hi := p.downInc, uint64(math.MaxUint64)
		if p.rivalInc > lo {
			hi = p.rivalInc
		}
		t.mu.RUnlock()
		nm.peerDown(p.name, lo, hi)
	}
	t.peerChanged(p.name)
	t.log.Warn("cluster: node down", "node", p.name, "reason", why)
}

func (t *Transport) onHeartbeat(m *nats.Msg) {
	r := reader{b: m.Data}
	if v := r.byte1("version"); r.err == nil && v != wireVersion {
		return
	}
	inc := r.uint64le("incarnation")
	flags := r.byte1("flags")
	name := r.str("node name")
	if r.err != nil || checkToken("node", name) != nil || inc == 0 {
		t.stats.badIn.Add(1)
		return
	}
	if name == t.name {
		if inc == t.inc {
			t.heardSelf.Store(t.since(time.Now()))
			return
		}
		if t.twin.CompareAndSwap(false, true) {
			t.log.Error("cluster: another node runs under this node's name; signals for this name reach both",
				"node", name, "other_incarnation", inc, "incarnation", t.inc)
		}
		return
	}
	t.mu.Lock()
	if !t.running {
		t.mu.Unlock()
		return
	}
	p := t.peers[name]
	if p == nil {
		if len(t.peers) >= maxPeers && !t.evictLocked() {
			t.mu.Unlock()
			// Every one of maxPeers names is up: real nodes or a flood of
			// made-up names. Said, not silent: a real node refused here
			// sees this one up while this one does not see it.
			if n := t.refused.Add(1); n&(n-1) == 0 {
				t.log.Error("cluster: a heartbeat of a new node name is refused: the peer table is full, every one of its names up (a flood of made-up names?)",
					"node", logtext.Cut(name, 64), "max_peers", maxPeers, "refused_so_far", n)
			}
			return
		}
		p = newPeer(t, name)
		t.peers[name] = p
		t.wg.Add(1)
		go p.run(t)
	}
	admit := false
	switch {
	case p.up && p.inc == inc && flags&hbBye != 0:
		// The goodbye in its batch stream (kindBye) takes it down after
		// its last signals; this one, on another subscription, might
		// overtake them, so it only makes the next expiry check (within
		// a heartbeat interval) take the node down if that has not come.
		p.lastSeen = time.Time{}
	case p.up && p.inc == inc:
		p.lastSeen = time.Now()
	case p.up:
		// Another incarnation of a name that is up: ignored until the
		// one up is down (see Incarnations above).
		t.rival(p, inc)
	case flags&hbBye != 0:
		// The goodbye of a node that is not up: nothing to take down.
	default:
		admit = true
	}
	if admit {
		t.admit(p, inc)
	}
	t.mu.Unlock()
	if admit {
		t.peerChanged(name)
	}

	if flags&hbHello != 0 {
		t.publishHeartbeat(0)
	}
}

// rival logs a heartbeat of p's name with incarnation inc, not the one up
// (1st, 2nd, 4th… per peer): a node restarted before the others took its
// old incarnation for lost, a second node under one name, or a forgery.
func (t *Transport) rival(p *peer, inc uint64) {
	p.rivalInc = inc
	if n := p.rivals.Add(1); n&(n-1) == 0 {
		t.log.Warn("cluster: a heartbeat names a node that is up with another incarnation; ignored until that one is down",
			"node", p.name, "incarnation", p.inc, "other_incarnation", inc, "ignored_so_far", n)
	}
}

// staleSender reports whether a batch from incarnation inc of node must
// be dropped: node is up as another incarnation. That one is owed a reset
// when it is admitted (it took this node up and may have made relations
// in the batches dropped). A node down or unknown is not refused: it has
// no relations here to outlive (see Incarnations above).
func (t *Transport) staleSender(node string, inc uint64) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	p := t.peers[node]
	if p == nil || !p.up || inc == p.inc {
		return false
	}
	p.resetOwed.Store(inc)
	return true
}

// newIncarnation draws a node's incarnation: random, never 0 (which
// heartbeats may not carry).
func newIncarnation() uint64 {
	for {
		if inc := rand.Uint64(); inc != 0 {
			return inc
		}
	}
}

// evictLocked makes room in a full peer table by forgetting the node that
// is down and was heard from the longest ago, and stops its flusher; t.mu
// is held. It reports false when every node in the table is up. Nodes
// whose names change at each start (a pod's name, say) would otherwise
// fill the table for good, and the node would admit no new peer.
func (t *Transport) evictLocked() bool {
	var old *peer
	for _, p := range t.peers {
		if !p.up && (old == nil || p.lastSeen.Before(old.lastSeen)) {
			old = p
		}
	}
	if old == nil {
		return false
	}
	delete(t.peers, old.name)
	close(old.gone)
	return true
}

// admit records p up as incarnation inc; t.mu is held. A node that comes
// back as the incarnation this node declared down, or whose batches were
// dropped while another incarnation of its name was up, is sent kindReset
// before anything else can be queued for it.
func (t *Transport) admit(p *peer, inc uint64) {
	owed := p.resetOwed.Swap(0) == inc
	reset := p.downInc == inc || owed
	p.up, p.inc, p.lastSeen = true, inc, time.Now()
	p.toInc.Store(inc)
	p.backAt = time.Time{}
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
	if reset {
		p.backAt = p.lastSeen
		_ = p.enqueue(t, transport.Signal{Kind: kindReset})
	}
	t.log.Info("cluster: node up", "node", p.name, "incarnation", inc, "back_without_restart", reset)
}

// checkDropped logs the batches NATS dropped because this node did not
// read them fast enough (a slow consumer): their signals are lost.
func (t *Transport) checkDropped() {
	t.mu.RLock()
	var sub *nats.Subscription
	if len(t.subs) > 0 {
		sub = t.subs[0]
	}
	t.mu.RUnlock()
	if sub == nil {
		return
	}
	n, err := sub.Dropped()
	if err != nil || uint64(n) <= t.stats.slowDropped.Load() {
		return
	}
	prev := t.stats.slowDropped.Swap(uint64(n))
	t.log.Warn("cluster: this node fell behind; NATS dropped batches sent to it", "dropped", uint64(n)-prev, "dropped_so_far", n)
}
