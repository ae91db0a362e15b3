package wsrelay

import (
	"errors"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/wsrelay/wsrelay/pid"
)

// ProcessEntry is the entry (process.SpawnOptions.Entry) of connection
// processes: what observers show as their kind.
const ProcessEntry = "wsrelay.connection"

// ConnInfo is what an observer sees of one connection at one moment
// (Relay.EachConnection).
type ConnInfo struct {
	PID       pid.PID
	Route     string // the relay's Options.Route
	Remote    string // the client's address
	Origin    string // its Origin header, cut to 256 bytes
	Path      string // the request path and query, cut to 512 bytes
	Target    pid.PID
	State     string // opening, open, closing or closed
	Opened    time.Time
	LastRead  time.Time // the client's last frame
	FramesIn  int64     // data frames from the client relayed to its targets
	FramesOut int64     // data frames written to the client
	BytesIn   int64     // their payload bytes
	BytesOut  int64
}

// EachConnection calls yield with every connection of the relay, until
// yield returns false. It holds the relay's lock only to copy the set,
// and each connection's only to read it.
func (rl *Relay) EachConnection(yield func(ConnInfo) bool) {
	rl.mu.Lock()
	conns := make([]*conn, 0, len(rl.conns))
	for c := range rl.conns {
		conns = append(conns, c)
	}
	rl.mu.Unlock()
	for _, c := range conns {
		if !yield(c.info()) {
			return
		}
	}
}

func (c *conn) info() ConnInfo {
	var target pid.PID
	var state connState
	c.call(func() { target, state = c.target, c.state }) // an owner's event never waits: nor does this for long
	return ConnInfo{PID: c.pid, Route: c.rl.opts.Route, Remote: c.remote, Origin: c.origin, Path: c.path, Target: target,
		State: state.String(), Opened: time.Unix(0, c.started), LastRead: time.Unix(0, c.lastRead.Load()),
		FramesIn: c.framesIn.Load(), FramesOut: c.framesOut.Load(), BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load()}
}

func (s connState) String() string {
	switch s {
	case stateOpening:
		return "opening"
	case stateOpen:
		return "open"
	case stateClosing:
		return "closing"
	}
	return "closed"
}

// TraceEvent is one event of a connection's trace.
type TraceEvent struct {
	Seq     uint64
	Time    time.Time
	Kind    string // in, out (data frames), join, leave, control, close, detach, attach (of a socket)
	Type    string // text or binary, for frames
	Size    int    // payload bytes, for frames
	Payload string // the first TracePayload bytes, when the trace keeps them
	Detail  string // a leave's reason, a close's code and reason, a control's new target
}

// Bounds of tracing: a trace keeps its last TraceEvents events, at most
// TraceRate a second (the others are counted as dropped), payloads cut to
// TracePayload bytes; a relay traces at most MaxTraces connections at
// once, and a trace nobody has asked for in TraceIdle stops.
const (
	TraceEvents  = 256
	TraceRate    = 100
	TracePayload = 128
	MaxTraces    = 16
	TraceIdle    = 10 * time.Second
)

// ErrTooManyTraces: the relay traces MaxTraces connections already.
var ErrTooManyTraces = errors.New("wsrelay: too many connections traced at once")

// TraceResult is what a trace holds after what its reader has seen.
type TraceResult struct {
	Events  []TraceEvent // kept, oldest first
	Dropped uint64       // events the rate bound did not keep
	Ended   bool         // the connection has ended
}

// Trace returns the events of the client's trace after seq since. The
// first call starts the trace (with payloads: their first TracePayload
// bytes are kept too); it stops when nobody has asked for TraceIdle. It
// returns false when the relay has no such connection, and
// ErrTooManyTraces when it traces MaxTraces others already.
func (rl *Relay) Trace(client pid.PID, since uint64, payloads bool) (TraceResult, bool, error) {
	c := rl.byPID(client)
	if c == nil {
		// A connection that ended while traced keeps its trace for
		// TraceIdle, so that its last events (its close) can be read.
		if t := rl.endedTrace(client); t != nil {
			var r TraceResult
			r.Events, r.Dropped = t.since(since)
			r.Ended = true
			return r, true, nil
		}
		return TraceResult{}, false, nil
	}
	t := c.trace.Load()
	if t == nil {
		var err error
		if t, err = rl.startTrace(c, payloads); t == nil {
			// Too many traces (the connection is there), or it has
			// just ended (it is not).
			return TraceResult{}, err != nil, err
		}
	}
	var r TraceResult
	r.Events, r.Dropped = t.since(since)
	r.Ended = c.seenState() >= stateClosing
	return r, true, nil
}

// startTrace starts tracing c, or returns its trace if another call
// started it meanwhile. It returns nil and no error when c has ended, and
// ErrTooManyTraces when MaxTraces other connections are traced and none
// of their traces has gone unasked for TraceIdle. An idle connection
// records no events, so its trace would otherwise keep its place until
// the connection's next event: the places are taken back here, where
// they are wanted. The scan is of rl.traced, at most MaxTraces entries.
func (rl *Relay) startTrace(c *conn, payloads bool) (*tracer, error) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.byPIDs[c.pid] != c {
		return nil, nil // ended (remove has run, or runs after this)
	}
	if t := c.trace.Load(); t != nil {
		return t, nil
	}
	if len(rl.traced) >= MaxTraces {
		now := time.Now()
		for o := range rl.traced {
			if t := o.trace.Load(); t == nil || t.idle(now) && o.trace.CompareAndSwap(t, nil) {
				delete(rl.traced, o)
			}
		}
		if len(rl.traced) >= MaxTraces {
			return nil, ErrTooManyTraces
		}
	}
	t := &tracer{payloads: payloads, started: time.Now()}
	c.trace.Store(t)
	rl.traced[c] = struct{}{}
	return t, nil
}

// stopTrace gives c's place back once its trace t has stopped.
func (rl *Relay) stopTrace(c *conn, t *tracer) {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if c.trace.CompareAndSwap(t, nil) {
		delete(rl.traced, c)
	}
}

func (rl *Relay) byPID(p pid.PID) *conn {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return rl.byPIDs[p]
}

// tracer is a connection's trace: a ring of its last events.
type tracer struct {
	mu       sync.Mutex
	payloads bool
	started  time.Time
	asked    time.Time // the last Trace call
	ring     [TraceEvents]TraceEvent
	seq      uint64 // events seen, kept or dropped by the rate
	dropped  uint64
	second   time.Time // the second the rate counts
	inSecond int
}

// since returns the kept events after seq, and marks the trace asked for.
func (t *tracer) since(seq uint64) ([]TraceEvent, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.asked = time.Now()
	var out []TraceEvent
	for i := range TraceEvents {
		e := t.ring[(int(t.seq)+i)%TraceEvents]
		if e.Seq > seq {
			out = append(out, e)
		}
	}
	return out, t.dropped
}

// idle reports whether nobody has asked for the trace in TraceIdle.
func (t *tracer) idle(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.idleLocked(now)
}

func (t *tracer) idleLocked(now time.Time) bool {
	last := t.asked
	if last.IsZero() {
		last = t.started
	}
	return now.Sub(last) > TraceIdle
}

// add records an event; false when the trace has not been asked for in
// TraceIdle (it stops).
func (t *tracer) add(e TraceEvent, payload []byte) bool {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idleLocked(now) {
		return false
	}
	t.seq++
	if now.Sub(t.second) >= time.Second {
		t.second, t.inSecond = now, 0
	}
	if t.inSecond >= TraceRate {
		t.dropped++
		return true
	}
	t.inSecond++
	e.Seq, e.Time = t.seq, now
	if t.payloads && len(payload) > 0 {
		p := payload[:min(len(payload), TracePayload)]
		for len(p) > 0 && !utf8.Valid(p) && e.Type == "text" {
			p = p[:len(p)-1] // a text payload is cut at a character boundary
		}
		e.Payload = string(p)
	}
	t.ring[int(t.seq-1)%TraceEvents] = e
	return true
}

// traced records an event in the connection's trace, if it is traced.
func (c *conn) traced(e TraceEvent, payload []byte) {
	t := c.trace.Load()
	if t == nil {
		return
	}
	if !t.add(e, payload) {
		c.rl.stopTrace(c, t)
	}
}

func frameType(op opcode) string {
	if op == opBinary {
		return "binary"
	}
	return "text"
}

// describe says how a connection ended, for its trace.
func (e ending) describe() string {
	s := e.reason
	if e.closeCode != 0 {
		s += " " + strconv.Itoa(e.closeCode)
		if e.closeText != "" {
			s += " " + e.closeText
		}
	}
	return s
}

// endedTrace is the trace of a connection that ended while traced, kept
// for TraceIdle after its end.
type endedTrace struct {
	pid pid.PID
	t   *tracer
	at  time.Time
}

// keepEnded keeps the trace of a connection that has ended: at most
// MaxTraces of them, each for TraceIdle.
func (rl *Relay) keepEnded(p pid.PID, t *tracer) {
	rl.endedMu.Lock()
	defer rl.endedMu.Unlock()
	rl.pruneEndedLocked()
	if len(rl.ended) >= MaxTraces {
		rl.ended = rl.ended[1:]
	}
	rl.ended = append(rl.ended, endedTrace{pid: p, t: t, at: time.Now()})
}

func (rl *Relay) endedTrace(p pid.PID) *tracer {
	rl.endedMu.Lock()
	defer rl.endedMu.Unlock()
	rl.pruneEndedLocked()
	for _, e := range rl.ended {
		if e.pid == p {
			return e.t
		}
	}
	return nil
}

func (rl *Relay) pruneEndedLocked() {
	for len(rl.ended) > 0 && time.Since(rl.ended[0].at) > TraceIdle {
		rl.ended = rl.ended[1:]
	}
}
