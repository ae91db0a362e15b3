package cluster

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
)

// Transport carries a node's signals to the other nodes of a cluster over
// NATS: it implements transport.Transport. Create it with New, give it to
// process.NewNode in process.Options.Transport, then Start it with the
// node; Close it before closing the NATS connection.
type Transport struct {
	nc   *nats.Conn
	opts Options
	log  *slog.Logger
	inc  uint64      // this incarnation: the node's boot in ns from Start on (random before; see membership.go)
	asm  reassembler // big batches from other nodes, in parts (parts.go)
	// maxSignal bounds the signals this node sends: MaxSignal (0 too); a
	// test lowers it rather than build 64 MiB signals.
	maxSignal int

	mu      sync.RWMutex // guards the fields below and every peer's membership fields
	node    *process.Node
	side    transport.Node // what the node gave Attach: where received signals go
	name    string
	hdr     []byte // the start of every batch this node sends
	peers   map[string]*peer
	subs    []*nats.Subscription
	running bool
	stop    chan struct{}
	wg      sync.WaitGroup

	stats struct {
		batchesOut, signalsOut, bytesOut atomic.Uint64
		batchesIn, signalsIn, badIn      atomic.Uint64
		stale, dropped, publishErrors    atomic.Uint64
		slowDropped, misattributed       atomic.Uint64
		partialsDropped                  atomic.Uint64
	}
	warned atomic.Uint64 // bad batches logged, to rate-limit the log
	// epoch is when the transport was made: the times below are kept as
	// nanoseconds since it, read on the monotonic clock, so that a step
	// of the wall clock neither fences a healthy node nor hides a cut.
	epoch time.Time
	// unsteady is when the heartbeat loop last saw this node's NATS
	// connection down, reconnected or not echoing (at first, the start),
	// and reconnects the connection's reconnect count then: see steadyFor.
	unsteady   atomic.Int64
	reconnects atomic.Uint64
	// heardSelf is when this node last heard its own heartbeat back from
	// NATS (at first, the start): see unheardFor.
	heardSelf atomic.Int64
	names     atomic.Pointer[Names]
	groups    GroupHandler // the process groups' handler (SetGroups); guarded by mu
	// droppedBatches counts the batches NATS dropped for this node
	// (subDropped; a test stands in for NATS).
	droppedBatches func() int
	twin           atomic.Bool   // another node with this name was seen (logged once)
	refused        atomic.Uint64 // heartbeats of new names refused for a full peer table
}

// maxPeers bounds the peer table, so a flood of made-up heartbeats cannot
// grow it without end.
const maxPeers = 1024

// New returns a transport over nc, which the caller owns and keeps open
// until after Close.
func New(nc *nats.Conn, opts *Options) (*Transport, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if nc == nil {
		return nil, fmt.Errorf("cluster: no NATS connection")
	}
	if nc.Opts.NoEcho {
		// A node takes itself for cut off when it stops hearing its own
		// heartbeats: with NoEcho it would never hear them.
		return nil, fmt.Errorf("cluster: the NATS connection was made with nats.NoEcho(); a node must hear its own heartbeats to know it is connected")
	}
	t := &Transport{nc: nc, opts: o, log: o.Logger, inc: newIncarnation(), peers: map[string]*peer{}, epoch: time.Now()}
	t.droppedBatches = t.subDropped
	// A batch passing the server's max payload still goes, in parts; but
	// batches of small signals should fit one NATS message, and never
	// pass MaxSignal (a receiver refuses parts of more).
	t.opts.MaxBatch = min(t.opts.MaxBatch, t.payloadLimit()/2, MaxSignal)
	return t, nil
}

// Start joins the cluster as node n: it subscribes to the node's subject
// and to the heartbeats, announces the node, and starts the heartbeat
// loop. The node's name must be a NATS subject token (letters, digits,
// '-', '_').
func (t *Transport) Start(n *process.Node) error {
	name := n.Name()
	if err := checkToken("node", name); err != nil {
		return err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.running || t.stop != nil {
		return fmt.Errorf("cluster: Start called twice")
	}
	if t.side == nil || t.side.Name() != name {
		return fmt.Errorf("cluster: node %q was not made with this transport (process.Options.Transport)", name)
	}
	t.node, t.name = n, name
	// The incarnation is the node's boot in nanoseconds: every PID id of
	// the node is above it, which lets the other nodes tell this
	// incarnation's PIDs from an earlier one's (see Names.LookupName).
	// Membership puts no order on incarnations (membership.go), so what
	// the clock said at boot matters to nothing else.
	if b := n.Boot().UnixNano(); b > 0 {
		t.inc = uint64(b)
	}
	t.hdr = appendHeader(nil, name, t.inc, 0)
	t.stop = make(chan struct{})
	sub, err := t.nc.Subscribe(t.nodeSubject(name), t.onBatch)
	if err != nil {
		return fmt.Errorf("cluster: subscribe to %s: %w", t.nodeSubject(name), err)
	}
	// Signals are dropped, not buffered without end, when this node
	// cannot keep up: at most once (see docs/cluster.md).
	_ = sub.SetPendingLimits(1<<16, 64<<20)
	hb, err := t.nc.Subscribe(t.heartbeatSubject(), t.onHeartbeat)
	if err != nil {
		_ = sub.Unsubscribe()
		return fmt.Errorf("cluster: subscribe to %s: %w", t.heartbeatSubject(), err)
	}
	t.subs = []*nats.Subscription{sub, hb}
	if err := t.nc.Flush(); err != nil { // the subscriptions are in place before anyone hears of us
		t.log.Warn("cluster: flush after subscribing", "error", err)
	}
	t.running = true
	t.unsteady.Store(t.since(time.Now()))
	t.heardSelf.Store(t.since(time.Now()))
	t.reconnects.Store(t.nc.Stats().Reconnects)
	t.publishHeartbeat(hbHello)
	t.wg.Add(2)
	go t.heartbeatLoop()
	go t.takenLoop()
	t.log.Info("cluster: node joined", "node", name, "cluster", t.opts.Cluster, "incarnation", t.inc)
	return nil
}

// Close leaves the cluster: it tells the other nodes this node is going
// (they see it down at once, without waiting for the timeout), stops
// sending and receiving, and waits for its goroutines. It does not close
// the NATS connection.
func (t *Transport) Close() error {
	t.mu.Lock()
	if !t.running {
		t.mu.Unlock()
		return nil
	}
	t.running = false
	subs := t.subs
	t.subs = nil
	// Each node this one sees up gets the goodbye as the last signal of
	// its stream, after everything queued before: a leaving relay's
	// ws.leave reaches its target before this node is down there, so the
	// target gets that leave and no node_down one. The flushers send it
	// as they stop; then the heartbeat goodbye tells the nodes this one
	// did not see.
	for _, p := range t.peers {
		if p.up {
			_ = p.enqueue(t, transport.Signal{Kind: kindBye})
		}
	}
	close(t.stop)
	t.mu.Unlock()
	for _, s := range subs {
		_ = s.Unsubscribe()
	}
	t.wg.Wait()
	t.publishHeartbeat(hbBye)
	if t.nc.IsConnected() { // the goodbye goes out now; a disconnected client would wait
		_ = t.nc.FlushTimeout(time.Second)
	}
	return nil
}

// Deliver queues s for its destination node. It never blocks: a flusher
// goroutine per node sends what is queued, as few NATS messages as it
// can. Signals from one sender to one receiver keep their order.
func (t *Transport) Deliver(s transport.Signal) error {
	p, err := t.livePeer(s.To.Node)
	if err != nil {
		return err
	}
	return p.enqueue(t, s)
}

// subDropped returns how many batches NATS has dropped for this node.
func (t *Transport) subDropped() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if len(t.subs) == 0 {
		return 0
	}
	n, _ := t.subs[0].Dropped()
	return n
}

// Attach is called by process.NewNode with the node's side, where the
// transport hands what it receives (transport.Receiver).
func (t *Transport) Attach(n transport.Node) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.side = n
}

// DeliverWithReceipt is Deliver for a message that asks for a receipt
// (transport.ReceiptTransport): the receiving node's transport answers
// it with SigTaken once the message has left its receiver's mailbox, and
// this one sends its own node's answers (takenLoop).
func (t *Transport) DeliverWithReceipt(s transport.Signal) error { return t.Deliver(s) }

// takenLoop sends the answers to messages with a receipt taken on this
// node (transport.Node.DrainTaken): one SigTaken per sender/receiver pair
// for all that pair's messages taken since the last round, queued with
// the other signals toward the sender's node (a node down drops them:
// its senders complete their receipts themselves).
//
// Every HeartbeatInterval it also tells the nodes whose batches may have
// been lost while both stayed up (kindLost), so that their senders do not
// wait for answers that will not come: every node up when NATS dropped
// batches sent to this one (which it cannot tell apart), and each node a
// publish to failed.
func (t *Transport) takenLoop() {
	defer t.wg.Done()
	send := func(s transport.Signal) { _ = t.Deliver(s) }
	tick := time.NewTicker(t.opts.HeartbeatInterval)
	defer tick.Stop()
	var dropped int // batches NATS dropped for this node, as last seen here
	for {
		select {
		case <-t.stop:
			return
		case <-t.side.TakenReady():
			t.side.DrainTaken(send)
		case <-tick.C:
			t.sweepPartials() // before tellLost: a node whose run was dropped hears of it now
			dropped = t.tellLost(dropped)
		}
	}
}

// tellLost sends kindLost to the nodes that must hear it (see takenLoop)
// and returns the count of batches NATS has dropped for this node (seen:
// the count at the last call).
func (t *Transport) tellLost(seen int) int {
	t.mu.RLock()
	var up []*peer
	for _, p := range t.peers {
		if p.up {
			up = append(up, p)
		}
	}
	t.mu.RUnlock()
	all := false
	if n := t.droppedBatches(); n > seen {
		seen, all = n, true
	}
	for _, p := range up {
		if owed := p.lostOwed.Swap(false); owed || all {
			_ = p.enqueue(t, transport.Signal{Kind: kindLost})
		}
	}
	return seen
}

func (t *Transport) livePeer(name string) (*peer, error) {
	t.mu.RLock()
	running := t.running
	p := t.peers[name]
	up := p != nil && p.up
	t.mu.RUnlock()
	if !running {
		return nil, fmt.Errorf("cluster: node %q: %w", name, ErrNotStarted)
	}
	if !up {
		return nil, fmt.Errorf("cluster: node %q: %w", name, ErrNodeDown)
	}
	return p, nil
}

// Room returns a channel closed once the queue toward node is below half
// of MaxPending, so a sender refused with ErrBacklog can wait and try
// again (process.Node.MailboxRoom uses it: the relay holds a client back
// this way). It is closed at once when node is not up: a send to it fails
// for another reason.
func (t *Transport) Room(node string) <-chan struct{} {
	p, err := t.livePeer(node)
	if err != nil {
		return closedChan
	}
	return p.roomChan(t)
}

// closedChan is always closed.
var closedChan = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Peers returns the names of the nodes this node sees up.
func (t *Transport) Peers() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var out []string
	for name, p := range t.peers {
		if p.up {
			out = append(out, name)
		}
	}
	return out
}

// Incarnation returns this incarnation's number: from Start on, the
// node's boot time in nanoseconds, below every PID id of the incarnation;
// a node restarted under the same name has another.
func (t *Transport) Incarnation() uint64 { return t.inc }

// Stats are the transport's counters.
type Stats struct {
	BatchesOut, SignalsOut, BytesOut uint64 // NATS messages, signals and bytes sent
	BatchesIn, SignalsIn             uint64 // received and applied
	BadIn                            uint64 // batches with invalid bytes (stopped at the first)
	Stale                            uint64 // batches for an earlier incarnation of this node, or from an earlier incarnation of their sender, dropped
	Dropped                          uint64 // signals not sent: refused for a full backlog (the sender may try again), or their node went down
	PublishErrors                    uint64 // NATS refused a publish
	SlowDropped                      uint64 // batches to this node NATS dropped: it fell behind
	Misattributed                    uint64 // relation signals dropped: their sender PID names a node other than the batch's
	PartialsDropped                  uint64 // big batches from other nodes dropped before all their parts came (see MaxReassembly)
	Partials, PartialBytes           uint64 // now: big batches being reassembled from parts, and the bytes they hold
}

// Stats returns the transport's counters.
func (t *Transport) Stats() Stats {
	s := &t.stats
	runs, bytes := t.asm.size()
	return Stats{
		PartialsDropped: s.partialsDropped.Load(), Partials: uint64(runs), PartialBytes: uint64(bytes),
		BatchesOut: s.batchesOut.Load(), SignalsOut: s.signalsOut.Load(), BytesOut: s.bytesOut.Load(),
		BatchesIn: s.batchesIn.Load(), SignalsIn: s.signalsIn.Load(), BadIn: s.badIn.Load(),
		Stale: s.stale.Load(), Dropped: s.dropped.Load(), PublishErrors: s.publishErrors.Load(),
		SlowDropped: s.slowDropped.Load(), Misattributed: s.misattributed.Load(),
	}
}

func (t *Transport) nodeSubject(name string) string { return t.opts.Cluster + ".node." + name }
func (t *Transport) heartbeatSubject() string       { return t.opts.Cluster + ".hb" }

// onBatch applies a batch of signals from another node, in order.
func (t *Transport) onBatch(m *nats.Msg) {
	t.stats.batchesIn.Add(1)
	var from string
	var fromInc uint64
	first := true
	apply := func(s transport.Signal) {
		t.stats.signalsIn.Add(1)
		switch s.Kind {
		case kindReset:
			t.peerReset(from)
			return
		case kindBye:
			t.peerBye(from, fromInc)
			return
		case kindLost:
			t.side.ReceiptsLost(from)
			t.peerChanged(from) // group state sent to it may be lost too
			return
		case kindGroup:
			if h := t.groupHandler(); h != nil {
				h.GroupData(from, s.Reason)
			}
			return
		}
		if attributed(s) && s.From.Node != from {
			t.misattributed(from, s)
			return
		}
		t.side.HandleSignal(s)
	}
	err := decodeBatch(m.Data, t.name, func(h header) bool {
		from, fromInc = h.from, h.fromInc
		if h.toInc != 0 && h.toInc != t.inc {
			t.stats.stale.Add(1) // meant for an earlier incarnation of this node
			return false
		}
		if t.staleSender(h.from, h.fromInc) {
			// Another incarnation of its name is up here: a relation it
			// made now would outlive its own loss (membership.go).
			t.stats.stale.Add(1)
			return false
		}
		return h.from != t.name
	}, func(s transport.Signal) {
		if first {
			// The parts of a big batch come one after the other: a
			// signal means the end of a run in progress was lost.
			first = false
			if t.asm.end(from) {
				t.partialDropped(from, "a signal came before the last part of a big batch")
			}
		}
		apply(s)
	}, func(pt part) {
		first = false
		t.onPart(from, fromInc, pt, apply)
	})
	if err != nil {
		t.badBatch(from, err)
	}
}

// badBatch counts a batch with invalid bytes from node from and logs it:
// the 1st, 2nd, 4th... such batch.
func (t *Transport) badBatch(from string, err error) {
	t.stats.badIn.Add(1)
	if n := t.warned.Add(1); n&(n-1) == 0 {
		t.log.Warn("cluster: bad batch from another node", "from", from, "error", err, "bad_so_far", n)
	}
}

// attributed reports whether s must come from its sender's node: a
// relation signal, a receipt's answer (a forged one would complete
// receipts of a sender whose receiver is elsewhere) or a message asking
// for a receipt (its answer would go to a node that did not send it).
func attributed(s transport.Signal) bool {
	return relation(s.Kind) || s.Kind == transport.SigTaken || (s.Kind == transport.SigMessage && s.Seq != 0)
}

// relation reports whether signals of kind k make, end or answer a
// relation between two processes: their sender must live on the node that
// sent the batch. A monitor or link claimed for a process of another node
// (or of none, which would look local) would be cleaned up by that node's
// loss, which the batch's node does not cause; a forged EXIT or LINK_EXIT
// would end a relation the batch's node has no part in. Messages, cancels
// and terminates may name any sender: they leave nothing behind.
func relation(k transport.SignalKind) bool {
	switch k {
	case transport.SigMonitor, transport.SigDemonitor, transport.SigLink, transport.SigUnlink, transport.SigExit, transport.SigLinkExit:
		return true
	}
	return false
}

// misattributed drops relation signal s, whose sender is not on node from,
// and counts it; the log (debug: a peer can send any number) is
// rate-limited to the 1st, 2nd, 4th... such signal.
func (t *Transport) misattributed(from string, s transport.Signal) {
	if n := t.stats.misattributed.Add(1); n&(n-1) == 0 {
		t.log.Debug("cluster: dropped a relation signal whose sender is not on the node that sent it",
			"from_node", from, "kind", int(s.Kind), "sender", s.From.String(), "receiver", s.To.String(), "dropped_so_far", n)
	}
}

// peerBye handles a node's goodbye in its batch stream: it is down at
// once, after everything it sent before.
func (t *Transport) peerBye(name string, inc uint64) {
	t.mu.Lock()
	p := t.peers[name]
	if p == nil || !p.up || p.inc != inc {
		t.mu.Unlock()
		return
	}
	t.markDown(p)
	t.mu.Unlock()
	t.peerDown(p, "left the cluster")
}

// peerReset handles a node telling this one that it had declared it down:
// it forgot this node's watchers and links, so this node forgets its own
// side too, and its processes hear noconnection.
func (t *Transport) peerReset(name string) {
	if name == "" || name == t.name {
		return
	}
	t.mu.Lock()
	p := t.peers[name]
	sameEpisode := p != nil && !p.backAt.IsZero() && time.Since(p.backAt) < t.opts.HeartbeatTimeout
	if p != nil {
		p.backAt = time.Time{}
	}
	t.mu.Unlock()
	// It forgot this node's groups: they go to it again.
	defer t.peerChanged(name)
	if sameEpisode {
		return // this node took it down and forgot its relations too
	}
	t.log.Warn("cluster: a node had declared this one down; dropping relations with it", "node", name)
	t.side.NodeDown(name)
}
