package wsrelay

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"
)

// holdThreshold: a client frame whose payload is larger is held back by
// the inbound guard until it has arrived whole. A frame up to this size
// passes straight through (the library reserves its announced size, at
// most this much).
const holdThreshold = 4096

// readBufSize is the library's read buffer per connection (it reads
// through a bufio.Reader of this size). An idle connection holds only
// this one: while bytes come fast, the guard reads burstBuf at a time
// into a pooled buffer and hands them on from there.
const (
	readBufSize = 512
	burstBuf    = 16 << 10
)

// maxHeader is the longest frame header: 2 bytes, an 8-byte length and a
// 4-byte mask key.
const maxHeader = 14

// inbound is what the WebSocket library reads a client's bytes through:
// it parses the frame stream as it passes and stops what the library
// would mishandle before the library sees it.
//
//   - Every frame header is checked first: a 64-bit length with the top
//     bit set, reserved bits, unknown opcodes, unmasked frames, control
//     frames that are fragmented or over 125 bytes, continuation frames
//     out of place close the connection with 1002; a message longer than
//     MaxMessageSize with 1009, before any of it is read.
//   - A frame whose payload is over holdThreshold is held back: its bytes
//     are collected as they arrive (nothing is reserved for what is only
//     announced) and the library gets header and payload together, so it
//     never allocates for bytes that have not arrived. Held frames take
//     their size from the node's Budget first and must arrive whole
//     within ReadTimeout; so must a fragmented message. A fragmented
//     message begins only in a read that starts with it, once the frames
//     before it have been relayed: the time the relay holds the client
//     back after a frame (frameIn) never runs against a message's
//     ReadTimeout or holds its share of the Budget.
//   - With permessage-deflate, compressed messages are held back whole and
//     inflated here, with MaxMessageSize as the bound (1009 past it); the
//     library gets them as plain frames.
//
// The guard runs on the connection's reader goroutine only.
type inbound struct {
	nc      net.Conn
	pre     []byte // bytes read past what was handed on (the handshake's leftovers, or past a held frame)
	max     int64
	deflate bool // permessage-deflate was negotiated
	timeout time.Duration
	budget  *Budget
	ws      *gws.Conn         // set once upgraded: writes the close frame
	onFail  func(*frameError) // set once upgraded: ends the connection
	onWait  func(bool)        // set once upgraded: a budget wait begins (true) or ends

	ended   atomic.Bool // the connection is ending: a budget wait ends
	waiting atomic.Bool // the reader is in a budget wait

	hdr    [maxHeader]byte
	hn     int   // bytes of a header cut by the end of a read
	remain int64 // payload bytes of the passing frame still to come

	inMsg    bool // a fragmented message has begun
	msgLen   int64
	msgStart time.Time
	msgHeld  int64 // bytes taken from the budget for the unfinished fragmented message
	zActive  bool  // the message is compressed: its frames are held and inflated here
	zOp      byte
	zbuf     []byte // compressed payload so far

	hold      []byte // a held frame: header as received, then payload as it arrives
	holdHdr   int
	holdTotal int
	held      int64     // bytes taken from the budget
	granted   time.Time // when the budget was granted

	ready     []byte // bytes to hand on before reading more
	readyHeld bool   // ready is a held frame: give back its budget once handed on
	readyBuf  []byte // the pooled buffer under ready, given back once handed on
	// heldTilNext: held is an inflated message's share, given back once
	// its target has taken it (relayed), or at the latest when the
	// library next reads, that is once it has relayed the message.
	heldTilNext bool
	burst       bool // the last read filled its buffer: more is likely waiting
	deadline    time.Time

	err     *frameError
	pending *frameError // a bad frame, behind frames still to hand on

	frames   rateBound // frames a second (Options.MaxFrameRate)
	inflated rateBound // inflated bytes a second (Options.MaxInflateRate)
}

// frameError is how the inbound guard ended a connection: the close code
// sent and why.
type frameError struct {
	Code    int
	Reason  string
	Timeout bool // the client did not send a message whole in time (ws.leave reason timeout)
}

func (e *frameError) Error() string { return fmt.Sprintf("close %d: %s", e.Code, e.Reason) }

// Uint16 is the close code (classifyClose reads it).
func (e *frameError) Uint16() uint16 { return uint16(e.Code) }

func newInbound(nc net.Conn, o *Options, budget *Budget, deflate bool) *inbound {
	return &inbound{nc: nc, max: int64(o.MaxMessageSize), deflate: deflate, timeout: o.ReadTimeout, budget: budget,
		frames: newRateBound(o.MaxFrameRate, 0), inflated: newRateBound(o.MaxInflateRate, o.MaxMessageSize)}
}

// close ends a budget wait; the connection is ending.
func (g *inbound) close() {
	g.ended.Store(true)
	if g.waiting.Load() {
		g.budget.wakeAll()
	}
}

// Held frames are collected in pooled buffers of power-of-two sizes, from
// 2*holdThreshold up to 4 MiB (larger ones are not pooled): a buffer is
// at most twice what has arrived, and a busy server does not allocate
// (and clear) a fresh one for every large frame.
const (
	holdMinBuf  = 2 * holdThreshold
	holdClasses = 10 // 8 KiB << 9 = 4 MiB
)

var holdBufs [holdClasses]sync.Pool

func holdClass(n int) int {
	c := 0
	for holdMinBuf<<c < n {
		c++
	}
	return c
}

// getHoldBuf returns an empty buffer of capacity at least n.
func getHoldBuf(n int) []byte {
	c := holdClass(n)
	if c >= holdClasses {
		return make([]byte, 0, n)
	}
	if b, ok := holdBufs[c].Get().(*[]byte); ok {
		return (*b)[:0]
	}
	return make([]byte, 0, holdMinBuf<<c)
}

// putHoldBuf gives a buffer from getHoldBuf back.
func putHoldBuf(b []byte) {
	c := holdClass(cap(b))
	if c < holdClasses && cap(b) == holdMinBuf<<c {
		holdBufs[c].Put(&b)
	}
}

// release gives back what the connection holds of the budget (when the
// reader ends).
func (g *inbound) release() {
	g.budget.release(g.held)
	g.held = 0
}

// releaseAll gives back everything the connection holds of the budget,
// when its reader ends.
func (g *inbound) releaseAll() {
	g.release()
	g.releaseMessage()
}

// releaseMessage gives back what the fragments of a message took, once
// the message is whole (or the reader ends).
func (g *inbound) releaseMessage() {
	g.budget.release(g.msgHeld)
	g.msgHeld = 0
}

// takeForMessage takes from the budget, for a fragmented message that
// begins, the most it may grow to: its fragments stay with the library
// (or in zbuf) until it is whole, and its length is not announced. Taken
// all at once (holding nothing else), two messages never wait on each
// other. The message's read timeout starts once it has its share.
func (g *inbound) takeForMessage() error {
	if !g.take(g.max) {
		return g.drain()
	}
	g.msgHeld, g.msgStart = g.max, time.Now()
	return nil
}

// take takes n bytes from the budget, waiting until they fit. The wait
// is the server holding the client back: it does not count toward the
// client's liveness (onWait), nor toward a read timeout, which starts
// only once the bytes are taken. It returns false, having taken nothing,
// once the connection is ending.
func (g *inbound) take(n int64) bool {
	if g.budget.tryAcquire(n, &g.ended) {
		return true
	}
	g.waiting.Store(true)
	if g.onWait != nil {
		g.onWait(true)
		defer g.onWait(false)
	}
	ok := g.budget.acquire(n, &g.ended)
	g.waiting.Store(false)
	return ok
}

// relayed gives back an inflated message's share of the budget once its
// target has taken it (frameIn calls it, on the reader goroutine). The
// share bounds inflated bytes that wait for their targets; what the
// target does with them is bounded elsewhere.
func (g *inbound) relayed() {
	if g.heldTilNext {
		g.heldTilNext = false
		g.release()
	}
}

// bad describes what is wrong with a frame.
func bad(code int, format string, args ...any) *frameError {
	return &frameError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// fail sends the close frame and makes every later read fail.
func (g *inbound) fail(code int, format string, args ...any) error {
	return g.failWith(bad(code, format, args...))
}

func (g *inbound) failWith(fe *frameError) error {
	g.err = fe
	if g.onFail != nil {
		g.onFail(fe) // the connection ends with this reason, before anything else can end it
	}
	if g.ws != nil {
		_ = g.ws.WriteClose(uint16(fe.Code), []byte(TruncateReason(g.err.Reason)))
	} else {
		_ = g.nc.Close()
	}
	return g.err
}

func (g *inbound) Read(p []byte) (int, error) {
	if g.heldTilNext && len(g.ready) == 0 {
		g.heldTilNext = false
		g.release()
	}
	for {
		if g.err != nil {
			return 0, g.err
		}
		if g.pending != nil && len(g.ready) == 0 {
			return 0, g.failWith(g.pending)
		}
		if len(g.ready) > 0 {
			n := copy(p, g.ready)
			g.ready = g.ready[n:]
			if len(g.ready) == 0 {
				g.ready = nil
				if g.readyHeld {
					g.readyHeld = false
					g.release()
				}
				if g.readyBuf != nil {
					putHoldBuf(g.readyBuf)
					g.readyBuf = nil
				}
			}
			return n, nil
		}
		if g.hold != nil {
			if err := g.fillHold(); err != nil {
				return 0, err
			}
			continue
		}
		if len(p) < 4*maxHeader || (g.burst && len(p) < burstBuf) {
			// Bytes are coming fast (the last read filled its buffer), or
			// p is tiny: read a pooled buffer's worth, handed on from it.
			buf := getHoldBuf(burstBuf)[:burstBuf]
			n, raw, err := g.readStream(buf)
			g.burst = raw == len(buf)
			if n == 0 {
				putHoldBuf(buf)
				if err != nil {
					return 0, err
				}
				continue
			}
			g.ready, g.readyBuf = buf[:n], buf
			continue
		}
		// Straight into the library's buffer: an idle connection holds no
		// buffer but that one.
		n, raw, err := g.readStream(p)
		g.burst = raw == len(p)
		if n > 0 || err != nil {
			return n, err
		}
	}
}

// readStream reads from the network into p and returns how much of it
// may go on to the library; what must not (a header cut by the end of
// the read, a held frame) is kept. raw is how much of p was filled.
func (g *inbound) readStream(p []byte) (n, raw int, err error) {
	k := copy(p, g.hdr[:g.hn])
	g.hn = 0
	m, err := g.src(p[k:])
	if m == 0 && err != nil {
		return 0, k, err
	}
	n, err = g.scan(p[:k+m])
	return n, k + m, err
}

// src reads what was kept back first, then the network, with the read
// deadline of what is being received.
func (g *inbound) src(p []byte) (int, error) {
	if len(g.pre) > 0 || g.inMsg || g.hold != nil || !g.deadline.IsZero() {
		return g.srcSlow(p)
	}
	// Between messages, with nothing kept back: the read an idle
	// connection waits in, kept shallow (its goroutine's stack is most of
	// what an idle connection costs).
	return g.nc.Read(p)
}

//go:noinline
func (g *inbound) srcSlow(p []byte) (int, error) {
	if len(g.pre) > 0 {
		n := copy(p, g.pre)
		g.pre = g.pre[n:]
		if len(g.pre) == 0 {
			g.pre = nil
		}
		return n, nil
	}
	var want time.Time
	if g.inMsg {
		want = g.msgStart.Add(g.timeout)
	}
	if g.hold != nil {
		if t := g.granted.Add(g.timeout); t.After(want) {
			want = t
		}
	}
	if !want.Equal(g.deadline) {
		g.deadline = want
		_ = g.nc.SetReadDeadline(want)
	}
	n, err := g.nc.Read(p)
	if err != nil && n == 0 && !g.deadline.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) {
		fe := bad(1008, "message not received whole within %s", g.timeout)
		fe.Timeout = true
		return 0, g.failWith(fe)
	}
	return n, err
}

// scan walks the frames in b, checking each header. It returns how many
// bytes of b go on to the library now.
func (g *inbound) scan(b []byte) (int, error) {
	i := 0
	for i < len(b) {
		if g.remain > 0 {
			k := min(g.remain, int64(len(b)-i))
			i += int(k)
			g.remain -= k
			continue
		}
		hl := headerLen(b[i:])
		if hl == 0 || len(b)-i < hl {
			g.hn = copy(g.hdr[:], b[i:])
			return i, nil
		}
		if i > 0 && begins(b[i]) {
			// A fragmented message begins behind frames the library has
			// not relayed yet, and relaying them may hold the reader back
			// (frameIn): the message is read once they are, so that its
			// read timeout and its share of the budget never run while
			// the server holds the client back.
			g.pre = append(bytes.Clone(b[i:]), g.pre...)
			return i, nil
		}
		wasInMsg := g.inMsg
		length, hold, fe := g.check(b[i : i+hl])
		if fe == nil && b[i]&0x08 == 0 { // a data frame
			if g.inMsg && !wasInMsg { // a fragmented message begins
				if err := g.takeForMessage(); err != nil {
					return 0, err
				}
			}
			if !g.inMsg && !hold {
				g.releaseMessage() // the message is whole
			}
		}
		if fe != nil {
			if i > 0 {
				// The frames before the bad one go on first; the
				// connection fails when the library asks for more.
				g.pending = fe
				return i, nil
			}
			return 0, g.failWith(fe)
		}
		if !hold {
			g.remain = length
			i += hl
			continue
		}
		total := hl + int(length)
		got := min(len(b)-i, total)
		// Only what arrived: the buffer grows (from the pool) once the
		// frame has its share of the budget and more bytes come.
		g.hold = bytes.Clone(b[i : i+got])
		g.holdHdr, g.holdTotal = hl, total
		if rest := b[i+got:]; len(rest) > 0 {
			g.pre = append(bytes.Clone(rest), g.pre...)
		}
		return i, nil
	}
	return len(b), nil
}

// begins reports whether a frame whose first byte is b0 begins a
// fragmented message: a text or binary frame without FIN.
func begins(b0 byte) bool {
	op := b0 & 0x0f
	return b0&0x80 == 0 && (op == 0x1 || op == 0x2)
}

// headerLen returns the length of the header at the start of b, or 0 when
// b is too short to tell.
func headerLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	n := 2
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// check validates a frame header and follows the message it belongs to.
// It returns the payload length and whether the frame is held back.
func (g *inbound) check(h []byte) (length int64, hold bool, err *frameError) {
	fin, rsv, op, masked := h[0]&0x80 != 0, h[0]&0x70, h[0]&0x0f, h[1]&0x80 != 0
	if !g.frames.take(1, time.Now()) {
		return 0, false, bad(1008, "more than %d frames a second", int(g.frames.per))
	}
	switch c := h[1] & 0x7f; c {
	case 126:
		length = int64(binary.BigEndian.Uint16(h[2:4]))
	case 127:
		u := binary.BigEndian.Uint64(h[2:10])
		if u>>63 != 0 {
			return 0, false, bad(1002, "a 64-bit payload length with the most significant bit set")
		}
		length = int64(u)
	default:
		length = int64(c)
	}
	if !masked {
		return 0, false, bad(1002, "a client frame that is not masked")
	}
	if rsv&0x30 != 0 {
		return 0, false, bad(1002, "reserved bits RSV2/RSV3 set")
	}
	compressed := false
	switch op {
	case 0x8, 0x9, 0xA:
		switch {
		case !fin:
			return 0, false, bad(1002, "a fragmented control frame")
		case length > 125:
			return 0, false, bad(1002, "a control frame of %d bytes (at most 125)", length)
		case rsv != 0:
			return 0, false, bad(1002, "a reserved bit set on a control frame")
		}
		return length, false, nil
	case 0x1, 0x2:
		if g.inMsg {
			return 0, false, bad(1002, "a new message inside a fragmented one")
		}
		if rsv != 0 && !g.deflate {
			return 0, false, bad(1002, "RSV1 set without a negotiated compression")
		}
		compressed = rsv != 0
		if length > g.max {
			return 0, false, bad(1009, "a message of %d bytes (at most %d)", length, g.max)
		}
		g.msgLen = length
		if !fin {
			g.inMsg, g.msgStart = true, time.Now()
		}
		if compressed {
			g.zActive, g.zOp = true, op
		}
	case 0x0:
		if !g.inMsg {
			return 0, false, bad(1002, "a continuation frame without a message to continue")
		}
		if rsv != 0 {
			return 0, false, bad(1002, "a reserved bit set on a continuation frame")
		}
		if length > g.max || g.msgLen+length > g.max {
			return 0, false, bad(1009, "a message of over %d bytes (at most %d)", g.max, g.max)
		}
		g.msgLen += length
		compressed = g.zActive
		if fin {
			g.inMsg = false
		}
	default:
		return 0, false, bad(1002, "unknown opcode %d", op)
	}
	return length, compressed || length > holdThreshold, nil
}

// fillHold reads the held frame on: it takes the frame's size from the
// budget first, grows the buffer as bytes arrive, and hands the frame on
// once whole.
func (g *inbound) fillHold() error {
	if g.held == 0 && g.granted.IsZero() {
		n := int64(g.holdTotal - g.holdHdr)
		if n > holdThreshold && g.msgHeld == 0 { // a fragment: its message has its share already
			if !g.take(n) {
				return g.drain()
			}
			g.held = n
		}
		g.granted = time.Now()
	}
	for len(g.hold) < g.holdTotal {
		if len(g.hold) == cap(g.hold) {
			grown := getHoldBuf(min(g.holdTotal, 2*cap(g.hold)))[:len(g.hold)]
			copy(grown, g.hold)
			putHoldBuf(g.hold)
			g.hold = grown
		}
		n, err := g.src(g.hold[len(g.hold):min(cap(g.hold), g.holdTotal)])
		g.hold = g.hold[:len(g.hold)+n]
		if err != nil {
			return err
		}
	}
	frame := g.hold
	g.hold, g.granted = nil, time.Time{}
	if !g.inMsg {
		g.releaseMessage() // the last fragment (if any) is whole
	}
	if !g.zActive {
		g.ready, g.readyHeld, g.readyBuf = frame, true, frame
		return nil
	}
	// A frame of a compressed message: collect its payload, and inflate
	// the message once it is complete.
	payload := frame[g.holdHdr:]
	mask := frame[g.holdHdr-4 : g.holdHdr]
	for i := range payload {
		payload[i] ^= mask[i&3]
	}
	g.zbuf = append(g.zbuf, payload...)
	fin := frame[0]&0x80 != 0
	putHoldBuf(frame)
	g.release()
	if !fin {
		return nil
	}
	// A message that inflates to a small frame's size at most is handed
	// on like one. A larger one is memory the client did not send: it is
	// inflated again once it has taken from the budget the most it can
	// grow to (deflate inflates at most 1032:1), holding nothing else, so
	// it cannot wait on another connection. What it did not need is given
	// back at once, the rest once the target has taken the message (see
	// relayed), or at the latest when the library reads again, which it
	// does only once it has relayed the message.
	frame, err := inflateFrame(g.zOp, g.zbuf, min(g.max, holdThreshold))
	if errors.Is(err, errTooLarge) && g.max > holdThreshold {
		bound := min(g.max+maxHeader, int64(len(g.zbuf))*1032+holdThreshold)
		if !g.take(bound) {
			return g.drain()
		}
		g.held = bound
		frame, err = inflateFrame(g.zOp, g.zbuf, g.max)
	}
	g.zbuf, g.zActive = nil, false
	switch {
	case errors.Is(err, errTooLarge):
		return g.fail(1009, "a message over %d bytes once decompressed", g.max)
	case err != nil:
		return g.fail(1007, "invalid compressed data: %v", err)
	case !g.inflated.take(int64(len(frame)), time.Now()):
		return g.fail(1008, "compressed messages inflating to more than %d bytes a second", int(g.inflated.per))
	}
	if g.held > 0 {
		keep := min(g.held, int64(cap(frame)))
		g.budget.release(g.held - keep)
		g.held, g.heldTilNext = keep, true
	}
	g.ready = frame
	return nil
}

// drain reads and drops what comes until the connection is closed: it
// is ending (its close frame is on its way), and the reader must not end
// first, or the library would send a close frame of its own.
func (g *inbound) drain() error {
	var sink [512]byte
	for {
		if _, err := g.nc.Read(sink[:]); err != nil {
			return err
		}
	}
}

// plainHeader is the header of a whole, uncompressed client frame of n
// bytes, masked with a zero key (the library wants client frames masked).
func plainHeader(op byte, n int) []byte {
	f := make([]byte, 0, maxHeader)
	f = append(f, 0x80|op)
	switch {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x80|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, 0x80|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	return append(f, 0, 0, 0, 0)
}

var errTooLarge = errors.New("too large")

// deflateTail ends every compressed message (RFC 7692 7.2.2).
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// flateReaders are reused: a reader is large, and messages are
// independent (no context takeover is negotiated).
var flateReaders = sync.Pool{New: func() any { return flate.NewReader(nil) }}

// inflateFrame decompresses one message of at most limit bytes into a
// whole, uncompressed frame (plainHeader), built in place: the message is
// not copied.
func inflateFrame(op byte, z []byte, limit int64) ([]byte, error) {
	fr := flateReaders.Get().(io.ReadCloser)
	defer flateReaders.Put(fr)
	_ = fr.(flate.Resetter).Reset(io.MultiReader(bytes.NewReader(z), bytes.NewReader(deflateTail)), nil)
	var out bytes.Buffer
	out.Write(make([]byte, maxHeader)) // room for the header
	n, err := out.ReadFrom(io.LimitReader(fr, limit+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	if n > limit {
		return nil, errTooLarge
	}
	h := plainHeader(op, int(n))
	f := out.Bytes()[maxHeader-len(h):]
	copy(f, h)
	return f, nil
}
