package cluster

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/process/transport"
)

// Big batches. A batch longer than the NATS server's max payload (a
// signal bigger than it, or a batch of small ones built for a server with
// a larger max payload than the one the connection has since moved to)
// goes as a run of parts, each in a NATS message of its own: the batch's
// header, then one part signal carrying the next piece of the batch's
// signals. The run is contiguous in the stream to the receiving node
// (one flusher goroutine publishes a node's batches in order, over one
// connection, to one subscription), so order per pair holds: the
// signals of a big batch are applied, in order, after those of earlier
// batches and before those of later ones.
//
// The receiver holds at most one run per sending node: it appends each
// piece where the one before ended and applies the signals once the last
// piece is in. Anything else ends the run and drops what it had, counted
// (Stats.PartialsDropped), logged, and told to the sender (kindLost, so
// its receipts complete: the messages may be gone):
//
//   - a piece that does not start where the run stands (a part was lost:
//     NATS core delivers at most once), of another total, or of another
//     incarnation of its node;
//   - a first piece (offset 0) while a run is in progress, or a signal
//     that is not a part: the run's end was lost;
//   - the sending node going down;
//   - no piece for HeartbeatTimeout (the sender stopped midway and sends
//     nothing more);
//   - the bounds: MaxReassembly bytes for all runs together, counted as
//     the capacity of their buffers, and maxPartials runs. A buffer grows
//     with the pieces that arrived (to at most twice them, never past
//     its total), not with the total a first part announces.
//
// After a drop the rest of the run's parts are skipped: the run stays in
// the table, holding no buffer, until its last piece, a new run, a
// signal or the timeout ends it, so that one lost run counts once.

// kindPart is a piece of a batch too big for one NATS message (wire.go).
const kindPart transport.SignalKind = 0xF3

// MaxSignal is the most bytes one signal to a process of another node may
// take, encoded (its PIDs, topic and payload in the binary encoding of
// values): 64 MiB, the most a NATS server's max payload can be with its
// default max_pending (the server refuses a larger max payload). Deliver
// refuses a larger one with ErrTooLarge, except an EXIT or a LINK_DOWN,
// whose reason is replaced (see enqueue). Signals up to it cross whatever
// the server's max payload: larger batches travel in parts.
const MaxSignal = 64 << 20

// maxPartials bounds the runs being reassembled at once: one per sending
// node, as many as the peer table holds.
const maxPartials = maxPeers

// payloadLimit returns the max payload of the NATS server the connection
// is on now (it changes when it reconnects to another server).
func (t *Transport) payloadLimit() int {
	if mp := t.nc.MaxPayload(); mp > 0 {
		return int(mp)
	}
	return 1 << 20 // not connected yet: the NATS default
}

// publish sends batch c to p: as one NATS message when it fits limit, the
// max payload, else in parts. It returns how many NATS messages went. A
// publish refused for its size (nats.ErrMaxPayload: the connection moved
// to a server with a smaller max payload since limit was read) is tried
// again, in parts that fit the new limit; a run cut short by that starts
// over at offset 0, which makes the receiver drop what it had (counted).
func (p *peer) publish(t *Transport, c []byte, limit int) (msgs int, err error) {
	for try := 0; ; try++ {
		n := 0
		if len(c) <= limit {
			if err = t.nc.Publish(p.subject, c); err == nil {
				n = 1
			}
		} else {
			n, err = p.publishParts(t, c, limit)
		}
		msgs += n
		if !errors.Is(err, nats.ErrMaxPayload) || try == 2 {
			return msgs, err
		}
		limit = t.payloadLimit()
	}
}

// publishParts sends batch c as parts that each fit limit.
func (p *peer) publishParts(t *Transport, c []byte, limit int) (msgs int, err error) {
	return splitParts(c, len(t.hdr), limit, func(m []byte) error { return t.nc.Publish(p.subject, m) })
}

// splitParts calls send with each part of batch c, whose header is hdr
// bytes long, as a NATS message of at most limit bytes: the header, then
// one part. send may not keep its argument. It returns how many parts were
// sent, stopping at the first error.
func splitParts(c []byte, hdr, limit int, send func([]byte) error) (n int, err error) {
	body := c[hdr:]
	room := limit - hdr - partOverhead
	if room < 1 {
		return 0, fmt.Errorf("cluster: NATS max payload %d leaves no room for a part: %w", limit, ErrTooLarge)
	}
	buf := make([]byte, 0, hdr+partOverhead+min(room, len(body)))
	for off := 0; off < len(body); off += room {
		piece := body[off:min(off+room, len(body))]
		buf = appendPart(append(buf[:0], c[:hdr]...), len(body), off, piece)
		if err := send(buf); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// reassembler holds the runs of parts being reassembled, one per sending
// node. Its zero value is empty and ready.
type reassembler struct {
	mu    sync.Mutex
	runs  map[string]*run
	bytes int          // capacity of the runs' buffers
	n     atomic.Int64 // len(runs), read without mu: most batches find none
}

// run is a big batch being reassembled from the parts of one node.
type run struct {
	inc   uint64 // the sender's incarnation
	total int    // bytes of signals the run carries
	next  int    // where the next piece starts
	buf   []byte // the pieces so far; nil once dropped (skipping)
	last  int64  // when the latest piece came (Transport.since)
}

// add takes a piece from node from (incarnation inc) that came at now. It
// returns the run's signals when pt completes it, and why, for each run
// it dropped (at most two: the one a new run ends, and the new one).
// limit is MaxReassembly.
func (r *reassembler) add(from string, inc uint64, pt part, now int64, limit int) (body []byte, why []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.runs[from]
	if q != nil && pt.off == 0 {
		if q.buf != nil {
			why = append(why, "a big batch began before the one in progress was complete")
		}
		r.removeLocked(from, q)
		q = nil
	}
	switch {
	case q == nil:
		if len(r.runs) >= maxPartials {
			if pt.off == 0 {
				why = append(why, "more than "+strconv.Itoa(maxPartials)+" big batches in progress")
			}
			return nil, why // an orphan piece finds no room: it is skipped uncounted
		}
		if r.runs == nil {
			r.runs = map[string]*run{}
		}
		q = &run{inc: inc, total: pt.total, next: pt.off, buf: []byte{}}
		if pt.off != 0 {
			q.buf = nil
			why = append(why, "the first part of a big batch was lost")
		}
		r.runs[from] = q
		r.n.Store(int64(len(r.runs)))
	case q.inc != inc || q.total != pt.total || q.next != pt.off:
		if q.buf != nil {
			why = append(why, "a part of a big batch was lost or out of place: offset "+strconv.Itoa(pt.off)+", expected "+strconv.Itoa(q.next))
			r.skipLocked(q)
		}
		q.inc, q.total = inc, pt.total // skip the rest of this run
	}
	q.next, q.last = pt.off+len(pt.piece), now
	if q.buf != nil {
		if need := q.next; need > cap(q.buf) {
			// Grow to what arrived, doubled, never past the total
			// nor the room left: the buffers hold at most twice the
			// bytes received, and at most limit together.
			room := limit - (r.bytes - cap(q.buf))
			c := min(q.total, max(2*cap(q.buf), need), room)
			if c < need {
				why = append(why, "more than "+strconv.Itoa(limit)+" bytes of big batches in progress (MaxReassembly)")
				r.skipLocked(q)
			} else {
				nb := make([]byte, len(q.buf), c)
				copy(nb, q.buf)
				r.bytes += c - cap(q.buf)
				q.buf = nb
			}
		}
		if q.buf != nil {
			q.buf = append(q.buf, pt.piece...)
		}
	}
	if q.next == q.total {
		body = q.buf
		r.removeLocked(from, q)
	}
	return body, why
}

// skipLocked drops the bytes of run q and skips the rest of its parts.
func (r *reassembler) skipLocked(q *run) {
	r.bytes -= cap(q.buf)
	q.buf = nil
}

func (r *reassembler) removeLocked(from string, q *run) {
	r.skipLocked(q)
	delete(r.runs, from)
	r.n.Store(int64(len(r.runs)))
}

// end ends the run of node from, if any: a signal came that is not a
// part, or the node went down. It reports whether bytes were dropped.
func (r *reassembler) end(from string) bool {
	if r.n.Load() == 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	q := r.runs[from]
	if q == nil {
		return false
	}
	dropped := q.buf != nil
	r.removeLocked(from, q)
	return dropped
}

// sweep ends the runs that had no piece since before, returning the
// nodes whose runs held bytes.
func (r *reassembler) sweep(before int64) (dropped []string) {
	if r.n.Load() == 0 {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for from, q := range r.runs {
		if q.last < before {
			if q.buf != nil {
				dropped = append(dropped, from)
			}
			r.removeLocked(from, q)
		}
	}
	return dropped
}

// size returns the runs in progress and the bytes they hold.
func (r *reassembler) size() (runs, bytes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs), r.bytes
}

// onPart adds a part from node from (incarnation inc) to its run and,
// when that completes it, applies its signals with apply.
func (t *Transport) onPart(from string, inc uint64, pt part, apply func(transport.Signal)) {
	body, why := t.asm.add(from, inc, pt, t.since(time.Now()), t.opts.MaxReassembly)
	for _, w := range why {
		t.partialDropped(from, w)
	}
	if body == nil {
		return
	}
	if err := decodeSignals(body, t.name, apply); err != nil {
		t.badBatch(from, fmt.Errorf("in a big batch reassembled from parts: %w", err))
	}
}

// partialDropped counts a big batch from node from dropped before it was
// complete, logs it (the 1st, 2nd, 4th...), and owes its node kindLost:
// messages with receipts may have been in it.
func (t *Transport) partialDropped(from, why string) {
	t.mu.RLock()
	p := t.peers[from]
	if p != nil && p.up {
		p.lostOwed.Store(true)
	}
	t.mu.RUnlock()
	if n := t.stats.partialsDropped.Add(1); n&(n-1) == 0 {
		t.log.Warn("cluster: dropped a big batch from another node before it was complete", "from", from, "reason", why, "dropped_so_far", n)
	}
}

// sweepPartials ends the runs that had no part for HeartbeatTimeout.
func (t *Transport) sweepPartials() {
	for _, from := range t.asm.sweep(t.since(time.Now()) - int64(t.opts.HeartbeatTimeout)) {
		t.partialDropped(from, "no part for "+t.opts.HeartbeatTimeout.String())
	}
}
