package wsrelay

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"
)

// holdThreshold: a client frame whose payload is larger is held back
// until it has arrived whole, and takes its size from the budget first.
// A frame up to this size is read in the connection's read buffer.
const holdThreshold = 4096

// readBufSize is the read buffer a reader takes from smallBufs when
// bytes arrive; while bytes come fast (a read fills it), the reader reads
// burstBuf at a time into a pooled buffer, given back once it has been
// read. A reader watched for readiness (poll_linux.go) gives both back
// when it stops (no message for idleLinger, nothing buffered): an idle
// connection holds no buffer.
const (
	readBufSize = 512
	burstBuf    = 16 << 10
)

var smallBufs = sync.Pool{New: func() any { return new([readBufSize]byte) }}

// inbound reads a client's frames: the relay's one parser of client
// bytes. It checks each header before reading its payload, reads the
// payload straight into a buffer accounted for in the node's Budget, and
// hands whole messages to the connection (conn.frameIn); control frames
// are handled inline.
//
//   - Every frame header is checked first: a 64-bit length with the top
//     bit set, reserved bits, unknown opcodes, unmasked frames, control
//     frames that are fragmented or over 125 bytes, continuation frames
//     out of place close the connection with 1002; a message longer than
//     MaxMessageSize with 1009, before any of it is read.
//   - A frame whose payload is over holdThreshold is held back: its bytes
//     are collected as they arrive (nothing is reserved for what is only
//     announced). Held frames take their size from the node's Budget
//     first and must arrive whole within ReadTimeout; so must a
//     fragmented message, which takes MaxMessageSize with its first
//     frame. A message begins only once the one before it has been
//     relayed (the reader is sequential): the time the relay holds the
//     client back after a message (frameIn) never runs against the next
//     one's ReadTimeout or holds its share of the Budget.
//   - With permessage-deflate, compressed messages are held back whole and
//     inflated here, with MaxMessageSize as the bound (1009 past it).
//   - Text messages and close reasons must be UTF-8 (1007).
//
// It runs on one goroutine at a time, but for close, which ends a budget
// wait from any goroutine: the connection's reader goroutine, or, for a
// socket watched for readiness, whichever goroutine the poller started
// for the bytes that arrived (run returns errIdle between messages, and
// is called again once more bytes are there).
type inbound struct {
	nc      net.Conn
	c       frameSink // the connection (conn)
	pre     []byte    // bytes read with the handshake, before the socket's
	max     int64
	deflate bool // permessage-deflate was negotiated
	timeout time.Duration
	budget  *Budget

	ended   atomic.Bool // the connection is ending: a budget wait ends
	waiting atomic.Bool // the reader is in a budget wait

	// The read buffer: small (pooled) while bytes trickle, a pooled
	// burstBuf while they come fast; bytes buf[r:w] are read and not yet
	// parsed. A watched reader holds neither while idle (rest).
	small *[readBufSize]byte
	big   []byte
	buf   []byte
	r, w  int
	burst bool // the last read filled the buffer: more is likely waiting

	// watched: the socket is watched for readiness (poll_linux.go), and
	// run stops (errIdle) once no message has come for idleLinger.
	watched bool
	atRest  bool // reading the first bytes of a frame header, nothing buffered

	deadline time.Time

	// The message being received in fragments.
	inMsg      bool
	msgOp      opcode
	msgLen     int64
	msgStart   int64  // unix nanoseconds
	msgHeld    int64  // bytes taken from the budget for it
	compressed bool   // it is compressed: collected, then inflated
	msg        []byte // its payload so far (pooled)

	held    int64 // bytes taken from the budget for the frame or inflated message at hand
	granted int64 // when a held frame got its share (unix nanoseconds; 0: none): its read timeout runs from here
	// heldTilNext: held is an inflated message's share, given back once
	// its target has taken it (relayed), or at the latest before the
	// next frame is read.
	heldTilNext bool

	frames   rateBound // frames a second (Options.MaxFrameRate)
	inflated rateBound // inflated bytes a second (Options.MaxInflateRate)

	err *frameError
}

// frameSink is what the reader hands on: the connection (conn), or a
// test's recorder.
type frameSink interface {
	frameIn(op opcode, data string) // a whole message; it may hold the reader back
	pingIn(payload []byte)
	touch() // a pong: the client is alive
	closeIn(code int, reason string)
	clientFailed(fe *frameError) // the client broke the protocol: close with fe.Code
	budgetWait(waiting bool)     // a wait for the budget begins (true) or ends
}

// frameError is how the reader ended a connection for what its client
// sent: the close code sent and why.
type frameError struct {
	Code    int
	Reason  string
	Timeout bool // the client did not send a message whole in time (ws.leave reason timeout)
}

func (e *frameError) Error() string { return fmt.Sprintf("close %d: %s", e.Code, e.Reason) }

// errEnded: the reader stops because its connection has ended.
var errEnded = errors.New("connection ended")

func newInbound(nc net.Conn, o *Options, budget *Budget, deflate bool) *inbound {
	g := &inbound{nc: nc, max: int64(o.MaxMessageSize), deflate: deflate, timeout: o.ReadTimeout, budget: budget,
		frames: newRateBound(o.MaxFrameRate, 0), inflated: newRateBound(o.MaxInflateRate, o.MaxMessageSize)}
	return g
}

// errIdle: run stopped between messages, nothing read and nothing
// buffered; call it again once the socket is readable.
var errIdle = errors.New("idle between messages")

// close ends a budget wait; the connection is ending.
func (g *inbound) close() {
	g.ended.Store(true)
	if g.waiting.Load() {
		g.budget.wakeAll()
	}
}

// Held frames and messages are collected in pooled buffers of
// power-of-two sizes, from 2*holdThreshold up to 4 MiB (larger ones are
// not pooled): a buffer is at most twice what has arrived, and a busy
// server does not allocate (and clear) a fresh one for every large frame.
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

// release gives back what the frame at hand holds of the budget.
func (g *inbound) release() {
	g.budget.release(g.held)
	g.held, g.heldTilNext = 0, false
}

// releaseAll gives back everything the connection holds, when its
// reader ends.
func (g *inbound) releaseAll() {
	g.release()
	g.releaseMessage()
	g.rest()
}

// rest gives the read buffers back to their pools; nothing is buffered
// (run returned errIdle, or the reader ended).
func (g *inbound) rest() {
	if g.big != nil {
		putHoldBuf(g.big)
		g.big = nil
	}
	if g.small != nil {
		smallBufs.Put(g.small)
		g.small = nil
	}
	g.buf, g.r, g.w = nil, 0, 0
}

// useSmall reads into the small buffer from here on, taking it from the
// pool if need be.
func (g *inbound) useSmall() {
	if g.small == nil {
		g.small = smallBufs.Get().(*[readBufSize]byte)
	}
	g.buf = g.small[:]
}

// releaseMessage gives back what a fragmented message took, once it is
// whole (or the reader ends).
func (g *inbound) releaseMessage() {
	g.budget.release(g.msgHeld)
	g.msgHeld = 0
	if g.msg != nil {
		putHoldBuf(g.msg)
		g.msg = nil
	}
}

// take takes n bytes from the budget, waiting until they fit. The wait
// is the server holding the client back: it does not count toward the
// client's liveness (budgetWait), nor toward a read timeout, which starts
// only once the bytes are taken. It returns false, having taken nothing,
// once the connection is ending.
func (g *inbound) take(n int64) bool {
	if g.budget.tryAcquire(n, &g.ended) {
		return true
	}
	g.waiting.Store(true)
	g.c.budgetWait(true)
	defer g.c.budgetWait(false)
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
		g.release()
	}
}

// bad describes what is wrong with a frame.
func bad(code int, format string, args ...any) *frameError {
	return &frameError{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// fail ends the connection for what the client sent: the close frame
// goes after what is queued for the client, and reading stops.
func (g *inbound) fail(code int, format string, args ...any) error {
	return g.failWith(bad(code, format, args...))
}

func (g *inbound) failWith(fe *frameError) error {
	g.err = fe
	g.c.clientFailed(fe)
	return fe
}

// run reads frames until the connection ends, and returns why reading
// stopped. A watched reader (g.watched) also stops with errIdle when no
// message has begun for idleLinger, having read everything that came;
// run is then called again once bytes arrive.
func (g *inbound) run() error {
	if g.buf == nil {
		g.useSmall()
	}
	for {
		if g.heldTilNext {
			g.release()
		}
		if g.ended.Load() {
			return errEnded
		}
		hl, err := g.readHeader()
		if err != nil {
			return err
		}
		h := parseHeader(g.buf[g.r : g.r+hl])
		g.r += hl
		if fe := g.check(&h); fe != nil {
			return g.failWith(fe)
		}
		if h.op >= opClose {
			err = g.control(&h)
		} else {
			err = g.data(&h)
		}
		if err != nil {
			return err
		}
	}
}

// readHeader reads the next frame header into the read buffer and
// returns its length.
func (g *inbound) readHeader() (int, error) {
	if g.r == g.w {
		g.r, g.w = 0, 0
		if g.big != nil && !g.burst {
			// Bytes stopped coming fast: back to the small buffer.
			putHoldBuf(g.big)
			g.big = nil
			g.useSmall()
		}
	}
	g.atRest = true
	err := g.fill(2)
	g.atRest = false
	if err != nil {
		return 0, err
	}
	hl := headerLen(g.buf[g.r:g.w])
	return hl, g.fill(hl)
}

// fill reads until n bytes wait in the read buffer (n <= burstBuf).
func (g *inbound) fill(n int) error {
	for g.w-g.r < n {
		if len(g.buf)-g.r < n || (g.burst && g.big == nil) {
			g.grow(n)
		}
		m, err := g.src(g.buf[g.w:])
		g.burst = m == len(g.buf)-g.w
		g.w += m
		if g.w-g.r >= n {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// grow makes room for n bytes from g.r: the unread bytes move to the
// start of the buffer, the pooled one when the small one is too small or
// bytes come fast.
func (g *inbound) grow(n int) {
	if g.big == nil && (n > readBufSize || g.burst) {
		g.big = getHoldBuf(burstBuf)[:burstBuf]
		k := copy(g.big, g.buf[g.r:g.w])
		g.buf, g.r, g.w = g.big, 0, k
		return
	}
	k := copy(g.buf, g.buf[g.r:g.w])
	g.r, g.w = 0, k
}

// src reads from the network (after what the handshake left), with the
// read deadline of what is being received.
func (g *inbound) src(p []byte) (int, error) {
	if len(g.pre) == 0 && !g.inMsg && g.granted == 0 {
		if g.watched && g.atRest && g.r == g.w {
			return g.lingerRead(p)
		}
		if g.deadline.IsZero() {
			// Between messages (or within a small frame, which has no
			// read timeout): the read an idle connection waits in when
			// its socket is not watched.
			return g.nc.Read(p)
		}
	}
	return g.srcSlow(p)
}

// idleLinger is how long a watched reader waits on its socket for the
// next message before it stops (errIdle) and leaves the socket to the
// poller. Waiting a little keeps a busy connection's round trip what it
// is with a reader of its own (the reader wakes from Go's own poller; a
// stopped one costs an event, a goroutine and a re-arm more, measured in
// docs/decisions/0003-read-on-readiness.md); a connection silent for
// longer holds no goroutine and no buffer.
const idleLinger = 10 * time.Millisecond

// lingerRead is the read of a watched reader between messages, nothing
// buffered: it waits from idleLinger/2 to idleLinger, then stops
// (errIdle). Bytes that arrive later wake the poller, which calls run
// again.
func (g *inbound) lingerRead(p []byte) (int, error) {
	now := time.Now()
	if d := g.deadline.Sub(now); d < idleLinger/2 || d > idleLinger {
		// A busy connection sets it once every half linger, not once
		// a message.
		g.deadline = now.Add(idleLinger)
		_ = g.nc.SetReadDeadline(g.deadline)
	}
	n, err := g.nc.Read(p)
	if n == 0 && errors.Is(err, os.ErrDeadlineExceeded) {
		g.deadline = time.Time{}
		_ = g.nc.SetReadDeadline(time.Time{})
		return 0, errIdle
	}
	return n, err
}

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
		want = time.Unix(0, g.msgStart).Add(g.timeout)
	}
	if g.granted != 0 {
		if t := time.Unix(0, g.granted).Add(g.timeout); t.After(want) {
			want = t
		}
	}
	if !want.Equal(g.deadline) {
		g.deadline = want
		_ = g.nc.SetReadDeadline(want)
		if want.IsZero() && len(g.pre) == 0 && g.watched {
			return g.src(p) // no deadline now: maybe the wait between messages
		}
	}
	n, err := g.nc.Read(p)
	if err != nil && n == 0 && !g.deadline.IsZero() && errors.Is(err, os.ErrDeadlineExceeded) {
		fe := bad(1008, "message not received whole within %s", g.timeout)
		fe.Timeout = true
		return 0, g.failWith(fe)
	}
	return n, err
}

// check validates a frame header and follows the message it belongs to.
func (g *inbound) check(h *frameHeader) *frameError {
	if !g.frames.take(1, time.Now()) {
		return bad(1008, "more than %d frames a second", int(g.frames.per))
	}
	if h.length>>63 != 0 {
		return bad(1002, "a 64-bit payload length with the most significant bit set")
	}
	length := int64(h.length)
	if !h.masked {
		return bad(1002, "a client frame that is not masked")
	}
	if h.rsv&0x30 != 0 {
		return bad(1002, "reserved bits RSV2/RSV3 set")
	}
	switch h.op {
	case opClose, opPing, opPong:
		switch {
		case !h.fin:
			return bad(1002, "a fragmented control frame")
		case length > 125:
			return bad(1002, "a control frame of %d bytes (at most 125)", length)
		case h.rsv != 0:
			return bad(1002, "a reserved bit set on a control frame")
		}
	case opText, opBinary:
		if g.inMsg {
			return bad(1002, "a new message inside a fragmented one")
		}
		if h.rsv != 0 && !g.deflate {
			return bad(1002, "RSV1 set without a negotiated compression")
		}
		if length > g.max {
			return bad(1009, "a message of %d bytes (at most %d)", length, g.max)
		}
	case opContinuation:
		if !g.inMsg {
			return bad(1002, "a continuation frame without a message to continue")
		}
		if h.rsv != 0 {
			return bad(1002, "a reserved bit set on a continuation frame")
		}
		if length > g.max || g.msgLen+length > g.max {
			return bad(1009, "a message of over %d bytes (at most %d)", g.max, g.max)
		}
	default:
		return bad(1002, "unknown opcode %d", h.op)
	}
	return nil
}

// control handles a ping, pong or close frame (at most 125 bytes).
func (g *inbound) control(h *frameHeader) error {
	n := int(h.length)
	if err := g.fill(n); err != nil {
		return err
	}
	p := g.buf[g.r : g.r+n]
	g.r += n
	unmask(p, h.mask, 0)
	switch h.op {
	case opPing:
		g.c.pingIn(p)
	case opPong:
		g.c.touch()
	case opClose:
		code, reason, fe := parseClosePayload(p)
		if fe != nil {
			return g.failWith(fe)
		}
		g.c.closeIn(code, reason)
		return errEnded
	}
	return nil
}

// data reads a text, binary or continuation frame, and relays the
// message it completes.
func (g *inbound) data(h *frameHeader) error {
	length := int64(h.length)
	if h.op != opContinuation {
		g.msgOp, g.msgLen, g.compressed = h.op, length, h.rsv != 0
		if !h.fin {
			// A fragmented message: its length is not announced, so it
			// takes the most it may grow to, all at once (holding nothing
			// else, two messages never wait on each other). Its read
			// timeout starts once it has its share.
			if !g.take(g.max) {
				return errEnded
			}
			g.inMsg, g.msgHeld, g.msgStart = true, g.max, time.Now().UnixNano()
		}
	} else {
		g.msgLen += length
	}
	if !g.inMsg && !g.compressed && length <= holdThreshold {
		// A small whole message: read in the read buffer.
		n := int(length)
		if err := g.fill(n); err != nil {
			return err
		}
		p := g.buf[g.r : g.r+n]
		g.r += n
		unmask(p, h.mask, 0)
		return g.deliver(g.msgOp, string(p))
	}
	if length > holdThreshold && g.msgHeld == 0 {
		// A held frame takes its announced size first.
		if !g.take(length) {
			return errEnded
		}
		g.held = length
	}
	var err error
	g.granted = time.Now().UnixNano()
	g.msg, err = g.readPayload(g.msg, length, h.mask)
	g.granted = 0
	if err != nil {
		return err
	}
	if !h.fin {
		return nil
	}
	g.inMsg = false
	payload := g.msg
	g.msg = nil
	if g.compressed {
		// What the frames took goes back first: the inflated message
		// takes its own share, holding nothing else.
		g.release()
		g.releaseMessage()
		out, err := g.inflate(payload)
		putHoldBuf(payload)
		if err != nil {
			return err
		}
		// out is the inflater's own buffer, not reused: the message
		// holds it without a copy.
		g.heldTilNext = g.held > 0
		return g.deliver(g.msgOp, unsafe.String(unsafe.SliceData(out), len(out)))
	}
	s := string(payload)
	putHoldBuf(payload)
	g.release()
	g.releaseMessage()
	return g.deliver(g.msgOp, s)
}

// deliver relays a whole message to the connection.
func (g *inbound) deliver(op opcode, s string) error {
	if op == opText && !utf8.ValidString(s) {
		g.release()
		return g.fail(1007, "invalid UTF-8 in a text frame")
	}
	g.c.frameIn(op, s)
	return nil
}

// readPayload appends n payload bytes to dst, unmasked: first what waits
// in the read buffer, then straight from the network into dst, which
// grows (from the pool) with what arrives, never with what is announced.
func (g *inbound) readPayload(dst []byte, n int64, key [4]byte) ([]byte, error) {
	start, end := len(dst), len(dst)+int(n)
	if dst == nil {
		dst = getHoldBuf(min(end, holdMinBuf))
	}
	k := min(end-start, g.w-g.r)
	dst = g.growTo(dst, start+k, end)
	dst = append(dst, g.buf[g.r:g.r+k]...)
	g.r += k
	for len(dst) < end {
		if len(dst) == cap(dst) {
			dst = g.growTo(dst, len(dst)+1, end)
		}
		m, err := g.src(dst[len(dst):min(cap(dst), end)])
		dst = dst[:len(dst)+m]
		if err != nil && len(dst) < end {
			putHoldBuf(dst)
			return nil, err
		}
	}
	unmask(dst[start:end], key, 0)
	return dst, nil
}

// growTo returns dst with room for need bytes, in a pooled buffer of at
// most twice what is there (and at most end).
func (g *inbound) growTo(dst []byte, need, end int) []byte {
	if need <= cap(dst) {
		return dst
	}
	grown := getHoldBuf(max(need, min(end, 2*cap(dst))))[:len(dst)]
	copy(grown, dst)
	putHoldBuf(dst)
	return grown
}

// inflate decompresses a whole compressed message. A message that
// inflates to a small frame's size at most is handed on like one. A
// larger one is memory the client did not send: it is inflated again
// once it has taken from the budget the most it can grow to (deflate
// inflates at most 1032:1), holding nothing else, so it cannot wait on
// another connection. What it did not need is given back at once, the
// rest once the target has taken the message (see relayed), or at the
// latest before the next frame is read.
func (g *inbound) inflate(z []byte) ([]byte, error) {
	out, err := inflateMessage(z, min(g.max, holdThreshold))
	if errors.Is(err, errTooLarge) && g.max > holdThreshold {
		bound := min(g.max, int64(len(z))*1032+holdThreshold)
		if !g.take(bound) {
			return nil, errEnded
		}
		g.held = bound
		out, err = inflateMessage(z, g.max)
	}
	switch {
	case errors.Is(err, errTooLarge):
		return nil, g.fail(1009, "a message over %d bytes once decompressed", g.max)
	case err != nil:
		return nil, g.fail(1007, "invalid compressed data: %v", err)
	case !g.inflated.take(int64(len(out)), time.Now()):
		return nil, g.fail(1008, "compressed messages inflating to more than %d bytes a second", int(g.inflated.per))
	}
	if g.held > 0 {
		keep := min(g.held, int64(cap(out)))
		g.budget.release(g.held - keep)
		g.held = keep
	}
	return out, nil
}

var errTooLarge = errors.New("too large")

// deflateTail ends every compressed message (RFC 7692 7.2.2).
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// flateReaders are reused: a reader is large, and messages are
// independent (no context takeover is negotiated).
var flateReaders = sync.Pool{New: func() any { return flate.NewReader(nil) }}

// inflateMessage decompresses one message of at most limit bytes.
func inflateMessage(z []byte, limit int64) ([]byte, error) {
	fr := flateReaders.Get().(io.ReadCloser)
	defer flateReaders.Put(fr)
	_ = fr.(flate.Resetter).Reset(io.MultiReader(bytes.NewReader(z), bytes.NewReader(deflateTail)), nil)
	var out bytes.Buffer
	n, err := out.ReadFrom(io.LimitReader(fr, limit+1))
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, err
	}
	if n > limit {
		return nil, errTooLarge
	}
	return out.Bytes(), nil
}
