package cluster

import (
	"cmp"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsrelay/wsrelay/process/transport"
)

// kindReset is a control signal in the batch stream: "I had declared you
// down". It travels in order with the signals, so everything the sender
// sends after it is applied after the receiver has reset.
const kindReset transport.SignalKind = 0xF0

// kindBye is a control signal in the batch stream: "I am leaving", the
// last signal a leaving node sends each node it sees up. In the stream,
// it reaches the receiver after every signal sent before it; the
// heartbeat subject's goodbye (another subscription, another goroutine)
// could overtake them.
const kindBye transport.SignalKind = 0xF1

// kindLost is a control signal in the batch stream: "batches between us
// may have been lost while we both stayed up (NATS dropped one for me, or
// refused one I sent you)". The receiver completes the receipts it holds
// for messages to the sender's processes (transport.Node.ReceiptsLost): the
// messages or their answers may be gone, and its senders must not wait
// for good.
const kindLost transport.SignalKind = 0xF2

// peer is another node: its membership (guarded by Transport.mu) and the
// queue of batches waiting to be sent to it (guarded by mu), which one
// flusher goroutine publishes.
type peer struct {
	name    string
	subject string
	wake    chan struct{} // 1-slot: the flusher has work
	gone    chan struct{} // closed when the peer leaves the table (evicted): the flusher stops
	toInc   atomic.Uint64 // the peer's incarnation, written into each batch
	// lostOwed: a publish to the peer failed, so answers to its receipts
	// may be lost; the transport tells it (kindLost) at its next tick.
	lostOwed atomic.Bool

	// membership, guarded by Transport.mu
	up       bool
	inc      uint64    // incarnation seen up
	downInc  uint64    // incarnation last declared down
	rivalInc uint64    // the last other incarnation heard while this one was up (0: none)
	lastSeen time.Time // last heartbeat
	backAt   time.Time // when it came back without a restart (see membership.go)
	// resetOwed: an incarnation of this name whose batches were dropped
	// while another was up; rivals: heartbeats of other incarnations
	// ignored while one was up (see membership.go).
	resetOwed, rivals atomic.Uint64

	mu      sync.Mutex
	down    bool     // marked down and not admitted again: enqueue refuses (written with Transport.mu held too)
	chunks  [][]byte // batches waiting, oldest first; each starts with the header
	signals []int    // signals in each chunk
	pending int      // bytes in chunks
	spare   [][]byte // sent buffers to reuse
	scratch []byte
	room    chan struct{} // closed when pending falls below half of MaxPending; nil when nobody waits
}

func newPeer(t *Transport, name string) *peer {
	return &peer{name: name, subject: t.nodeSubject(name), wake: make(chan struct{}, 1), gone: make(chan struct{})}
}

// enqueue appends s to the last batch, or starts a new one when that one
// is full, and wakes the flusher.
func (p *peer) enqueue(t *Transport, s transport.Signal) error {
	p.mu.Lock()
	if p.down {
		// Deliver saw it up, then it went down: a signal queued now
		// would go out after its node's loss was handled here (a
		// monitor whose watcher was told noconnection already, say).
		p.mu.Unlock()
		t.stats.dropped.Add(1)
		return fmt.Errorf("cluster: node %q: %w", p.name, ErrNodeDown)
	}
	p.scratch = appendSignal(p.scratch[:0], s)
	size := len(p.scratch)
	limit := cmp.Or(t.maxSignal, MaxSignal)
	if size > limit && (s.Kind == transport.SigExit || s.Kind == transport.SigLinkExit) {
		// Its sender has ended and cannot hear of a failure: the
		// relation still ends, with an error saying why its reason
		// did not come.
		s.Result = transport.Result{Err: &RemoteError{Text: fmt.Sprintf("cluster: the exit reason, %d bytes encoded, is more than the %d a signal between nodes may carry", size, limit)}}
		p.scratch = appendSignal(p.scratch[:0], s)
		size = len(p.scratch)
	}
	if size > limit {
		p.scratch = nil // do not hold on to it
		p.mu.Unlock()
		t.stats.dropped.Add(1)
		return fmt.Errorf("cluster: node %q: a signal of %d bytes encoded: %w (at most %d)", p.name, size, ErrTooLarge, limit)
	}
	// Refused only while Room would hold the sender back (half of
	// MaxPending waits): a signal bigger than what is left of MaxPending,
	// refused while Room said "go", had its sender (the relay) retry in a
	// busy loop. So the queue may hold MaxPending/2 plus one signal.
	if p.pending+size > t.opts.MaxPending && p.pending >= t.opts.MaxPending/2 && !pastBound(s.Kind, p.pending+size, t.opts.MaxPending) {
		p.mu.Unlock()
		t.stats.dropped.Add(1)
		return fmt.Errorf("cluster: node %q: %w (%d bytes waiting)", p.name, ErrBacklog, p.pending)
	}
	last := len(p.chunks) - 1
	if last < 0 || len(p.chunks[last])+size > max(t.opts.MaxBatch, len(t.hdr)+size) {
		p.chunks = append(p.chunks, append(p.buffer(), t.hdr...))
		p.signals = append(p.signals, 0)
		last++
	}
	p.chunks[last] = append(p.chunks[last], p.scratch...)
	p.signals[last]++
	p.pending += size
	if cap(p.scratch) > 2*t.opts.MaxBatch {
		p.scratch = nil // a big signal's buffer is not kept for the small ones
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return nil
}

// endsRelation reports whether a signal of kind k ends a monitor or a
// link. The backlog bound does not refuse these: their senders cannot try
// again (a process that ended sends its EXITs once), a lost EXIT would
// leave its watcher waiting for good while both nodes are up, and each
// relation, admitted under the bound, ends at most once.
func endsRelation(k transport.SignalKind) bool {
	switch k {
	case transport.SigExit, transport.SigLinkExit, transport.SigDemonitor, transport.SigUnlink:
		return true
	}
	return false
}

// pastBound reports whether a signal of kind k may be queued although
// MaxPending is reached, with pending bytes then waiting: the ends of
// relations always, and answers to receipts (SigTaken, kindLost) up to
// twice MaxPending. A lost answer would leave its sender holding a client back
// while both nodes are up; answers are coalesced per pair
// (transport.Node.DrainTaken), but a node that sends many messages asking
// for receipts to processes that do not exist is answered once per
// sender PID it makes up, so they are bounded too.
func pastBound(k transport.SignalKind, pending, maxPending int) bool {
	if k == transport.SigTaken || k == kindLost {
		return pending <= 2*maxPending
	}
	return endsRelation(k)
}

// roomChan returns a channel closed once less than half of MaxPending
// waits to be sent to p: at once when that is so already.
func (p *peer) roomChan(t *Transport) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pending < t.opts.MaxPending/2 {
		return closedChan
	}
	if p.room == nil {
		p.room = make(chan struct{})
	}
	return p.room
}

// wakeRoomLocked releases the senders waiting for room; p.mu is held.
func (p *peer) wakeRoomLocked(t *Transport) {
	if p.room != nil && p.pending < t.opts.MaxPending/2 {
		close(p.room)
		p.room = nil
	}
}

// buffer returns an empty buffer, reusing a sent one when it can.
func (p *peer) buffer() []byte {
	if n := len(p.spare); n > 0 {
		b := p.spare[n-1]
		p.spare = p.spare[:n-1]
		return b[:0]
	}
	return nil
}

// drop discards what waits to be sent (the peer went down), and what
// was being reassembled from its parts.
func (p *peer) drop(t *Transport) {
	p.mu.Lock()
	n := 0
	for _, c := range p.signals {
		n += c
	}
	p.chunks, p.signals, p.pending = nil, nil, 0
	p.wakeRoomLocked(t)
	p.mu.Unlock()
	t.stats.dropped.Add(uint64(n))
	if t.asm.end(p.name) { // and what was coming from it in parts
		t.stats.partialsDropped.Add(1)
	}
}

// flush publishes the waiting batches until there are none; the flusher
// goroutine calls it whenever it is woken. While it publishes, new signals
// gather in new batches: under load, many signals share one NATS message.
func (p *peer) flush(t *Transport) {
	for {
		p.mu.Lock()
		chunks, signals := p.chunks, p.signals
		p.chunks, p.signals, p.pending = nil, nil, 0
		p.wakeRoomLocked(t)
		p.mu.Unlock()
		if len(chunks) == 0 {
			return
		}
		toInc := p.toInc.Load()
		lost := false
		limit := t.payloadLimit()
		for i, c := range chunks {
			setHeaderToInc(c, toInc)
			msgs, err := p.publish(t, c, limit)
			t.stats.batchesOut.Add(uint64(msgs))
			if err != nil {
				t.stats.publishErrors.Add(1)
				t.stats.dropped.Add(uint64(signals[i]))
				lost = true
				continue
			}
			t.stats.signalsOut.Add(uint64(signals[i]))
			t.stats.bytesOut.Add(uint64(len(c)))
		}
		if lost {
			// Messages with receipts, or answers to the peer's, may be
			// in what was lost: nobody may wait for their answers.
			p.lostOwed.Store(true)
			t.side.ReceiptsLost(p.name)
		}
		p.mu.Lock()
		for _, c := range chunks {
			if len(p.spare) < 4 && cap(c) <= 2*t.opts.MaxBatch {
				p.spare = append(p.spare, c)
			}
		}
		p.mu.Unlock()
	}
}

// run is the peer's flusher goroutine, owned by the transport.
func (p *peer) run(t *Transport) {
	defer t.wg.Done()
	for {
		select {
		case <-p.wake:
			p.flush(t)
		case <-p.gone: // down and forgotten: what waited was dropped
			return
		case <-t.stop:
			p.flush(t) // what was queued before Close still goes
			return
		}
	}
}
