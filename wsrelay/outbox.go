package wsrelay

import (
	"bytes"
	"compress/flate"
	"errors"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
)

// outbox is a connection's queue of frames to write, bounded in bytes and
// in frames. A writer goroutine runs only while it has frames. A frame
// that would take the queue past its bounds, or a write that takes longer
// than WriteTimeout, closes the connection as a slow consumer. The frames
// queued while a write was under way go out in one write.
//
// What waits counts until it is written: bytes and frames cover the queue
// and the batch being written. The reader waits on room (see roomWait)
// while they reach the pause budget; the writer wakes it as it writes.
type outbox struct {
	mu          sync.Mutex
	q           []frame
	frames      int // queued or being written
	bytes       int // their payload bytes
	maxFrames   int
	maxBytes    int
	pauseFrames int
	pauseBytes  int
	writing     bool
	held        bool          // the connection's process holds frames in q, to write them together (flushOwned)
	detached    bool          // no socket: frames wait in q (detach.go)
	closed      bool          // nothing more is queued
	dropped     bool          // and what was is let go: the counts are zero
	room        chan struct{} // closed once below the pause budget; nil while nobody waits
	total       *atomic.Int64 // the relay's bytes waiting, over every connection
	deflate     bool          // permessage-deflate was negotiated: larger messages go compressed
}

func (o *outbox) init(opts *Options, total *atomic.Int64) {
	o.total = total
	o.maxFrames, o.maxBytes = opts.OutboundQueue, opts.OutboundMaxBytes
	o.pauseFrames, o.pauseBytes = max(1, (opts.OutboundQueue+3)/4), opts.OutboundPauseBytes
}

func (o *outbox) close() {
	o.mu.Lock()
	o.closed, o.dropped, o.q = true, true, nil
	o.total.Add(-int64(o.bytes))
	o.frames, o.bytes = 0, 0
	o.wakeLocked()
	o.mu.Unlock()
}

// backedUpLocked reports whether the reader should wait; o.mu is held.
func (o *outbox) backedUpLocked() bool {
	return !o.closed && (o.bytes >= o.pauseBytes || o.frames >= o.pauseFrames)
}

// roomWait returns a channel closed once what waits is below the pause
// budgets (or the queue is closed), or nil when it is below them already.
func (o *outbox) roomWait() <-chan struct{} {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.backedUpLocked() {
		return nil
	}
	if o.room == nil {
		o.room = make(chan struct{})
	}
	return o.room
}

// waiting returns the bytes and frames that wait.
func (o *outbox) waiting() (bytes, frames int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.bytes, o.frames
}

// wakeLocked wakes the reader once there is room; o.mu is held.
func (o *outbox) wakeLocked() {
	if o.room != nil && !o.backedUpLocked() {
		close(o.room)
		o.room = nil
	}
}

// written takes a frame that went out off the counts.
func (o *outbox) written(f *frame) {
	o.mu.Lock()
	if !o.dropped {
		o.frames--
		o.bytes -= len(f.data)
		o.total.Add(-int64(len(f.data)))
		o.wakeLocked()
	}
	o.mu.Unlock()
}

// enqueue adds a frame to write. When nothing is queued and no write is
// under way, the calling goroutine writes it itself (writeInline).
func (c *conn) enqueue(f frame) { c.push(f, false) }

// enqueueOwned is enqueue for the connection's process: while more
// messages wait in its mailbox, the frame is held in the queue, so that
// the frames of a burst go out together in one write once the mailbox is
// empty (flushOwned), as the writer would batch them.
func (c *conn) enqueueOwned(f frame) {
	c.push(f, c.rl.node.MailboxLen(c.pid) > 0)
}

// push queues f; hold: leave it to flushOwned, when no write is under
// way and the held frames fit one inline write.
func (c *conn) push(f frame, hold bool) {
	o := &c.out
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	detail := ""
	switch {
	case o.frames >= o.maxFrames:
		detail = "outbound queue full: " + strconv.Itoa(o.frames) + " frames wait"
	case o.bytes > 0 && o.bytes+len(f.data) > o.maxBytes:
		detail = "outbound queue full: " + strconv.Itoa(o.bytes) + " bytes wait, and a frame of " + strconv.Itoa(len(f.data)) + " would pass " + strconv.Itoa(o.maxBytes)
	}
	if detail != "" {
		o.mu.Unlock()
		// The client does not read: a close frame would wait behind what
		// it does not read, so the connection is cut (it sees 1006).
		c.endFromOutside(ending{reason: ReasonSlowConsumer, code: 1008, leave: true, hard: true, detail: detail})
		return
	}
	o.frames++
	o.bytes += len(f.data)
	o.total.Add(int64(len(f.data)))
	if o.writing || o.detached {
		o.q = append(o.q, f)
		o.mu.Unlock()
		return
	}
	if hold && c.inlines(&f) && len(o.q) < inlineFrames && o.bytes+maxHeader*len(o.q) < inlineMax/2 {
		o.q = append(o.q, f)
		o.held = true
		o.mu.Unlock()
		return
	}
	o.writing = true
	o.held = false
	o.q = append(o.q, f)
	batch := o.q
	o.q = nil
	o.mu.Unlock()
	// This goroutine writes; it counts as a writer: Shutdown waits for it.
	c.rl.writers.add()
	c.writeInline(batch)
	c.rl.writers.done()
}

// flushOwned writes the frames the connection's process held (push), once
// its mailbox is empty; the process calls it after each message.
func (c *conn) flushOwned() {
	o := &c.out
	o.mu.Lock()
	if !o.held || o.writing || o.detached || c.rl.node.MailboxLen(c.pid) > 0 {
		o.mu.Unlock()
		return
	}
	o.held = false
	if len(o.q) == 0 {
		o.mu.Unlock()
		return
	}
	o.writing = true
	batch := o.q
	o.q = nil
	o.mu.Unlock()
	c.rl.writers.add()
	c.writeInline(batch)
	c.rl.writers.done()
}

// inlineMax bounds the encoding of the frames written inline at once: one
// pooled buffer, one system call; inlineFrames bounds their number.
const (
	inlineMax    = batchMax
	inlineFrames = 64
)

// inlines reports whether f may be written inline: a data frame that goes
// out uncompressed in one piece, a ping or a pong. Close frames, larger
// and compressed messages go through the writer goroutine.
func (c *conn) inlines(f *frame) bool {
	if c.sock.raw == nil || f.rest != nil {
		return false
	}
	switch f.op {
	case opPing, opPong:
		return true
	case opText, opBinary:
		return len(f.data)+maxHeader <= inlineMax && !(c.out.deflate && len(f.data) > compressAbove)
	}
	return false
}

// writeInline writes the frames at the head of batch, taken off the queue
// while no write was under way (o.writing is set for them), with one
// write that never waits (socket.tryWrite): the process sending to a
// client is never held up by that client, however slowly it reads. What
// the socket does not take (the end of a frame it took part of, the
// frames after it, those that cannot go inline) goes back first in the
// queue, for the writer goroutine, ahead of the frames queued meanwhile:
// the order and the bounds are the queue's, as for any frame.
func (c *conn) writeInline(batch []frame) {
	o := &c.out
	var ends [inlineFrames]int // where each frame's encoding ends in buf
	b := batchBufs.Get().(*[]byte)
	buf, k := c.encodeInline((*b)[:0], batch, &ends)
	var n int
	var err error
	if k > 0 {
		n, err = c.sock.tryWrite(buf)
	}
	i := 0
	if err == nil {
		i = c.settleInline(batch[:k], buf, &ends, n)
	}
	*b = buf[:0]
	batchBufs.Put(b)
	if err != nil {
		c.writeFailed(err)
		return
	}
	rest := batch[i:]
	o.mu.Lock()
	if len(rest) > 0 && !o.dropped {
		o.q = append(rest, o.q...)
	}
	clear(batch[:i]) // the payloads are released as soon as they are written
	if len(o.q) == 0 {
		o.writing = false
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	c.rl.writers.add()
	go c.writeLoop()
}

// encodeInline encodes the frames at the head of batch that may go
// inline into buf, up to inlineFrames and inlineMax bytes; it returns
// buf and how many it encoded, with where each one ends in ends. A pong
// left out after its payload was taken keeps its encoding (rest).
func (c *conn) encodeInline(buf []byte, batch []frame, ends *[inlineFrames]int) ([]byte, int) {
	var hdr [maxHeader]byte
	k := 0
	for k < len(batch) && k < inlineFrames && c.inlines(&batch[k]) {
		f := &batch[k]
		p := f.data
		if f.op == opPong {
			p = c.takePong()
		}
		if k > 0 && len(buf)+maxHeader+len(p) > inlineMax {
			if f.op == opPong {
				f.rest = append(appendHeader(nil, true, false, opPong, len(p)), p...)
			}
			break
		}
		buf = append(append(buf, appendHeader(hdr[:0], true, false, f.op, len(p))...), p...)
		ends[k] = len(buf)
		k++
	}
	return buf, k
}

// settleInline counts out the encoded frames of batch that the socket
// took whole (the first n bytes of buf) and returns how many. The frame
// it took part of keeps the rest of its encoding (rest), and so does
// every pong after it (its payload was taken); the others go to the
// writer as they are.
func (c *conn) settleInline(batch []frame, buf []byte, ends *[inlineFrames]int, n int) int {
	i, off := 0, 0
	for ; i < len(batch); i++ {
		f := &batch[i]
		if ends[i] > n {
			if off < n || f.op == opPong {
				f.rest = append([]byte(nil), buf[max(off, n):ends[i]]...)
				if off < n && (f.op == opText || f.op == opBinary) {
					c.rl.opts.Metrics.FrameOut(len(f.data))
				}
			}
			break
		}
		if f.op == opText || f.op == opBinary {
			c.rl.opts.Metrics.FrameOut(len(f.data))
		}
		c.sent(f)
		off = ends[i]
	}
	for j := i + 1; j < len(batch); j++ {
		if f := &batch[j]; f.op == opPong {
			f.rest = append([]byte(nil), buf[ends[j-1]:ends[j]]...)
		}
	}
	return i
}

// sent takes a frame that went out off the queue's counts and counts it
// out.
func (c *conn) sent(f *frame) {
	c.out.written(f)
	if f.op == opText || f.op == opBinary {
		c.framesOut.Add(1)
		c.bytesOut.Add(int64(len(f.data)))
		c.traced(TraceEvent{Kind: "out", Type: frameType(f.op), Size: len(f.data)}, f.data)
	}
}

// writeFailed ends the connection for a write that failed. The
// connection ends first, then the queue closes: closing it wakes a paused
// reader, which must find the connection ended rather than read on and
// report the error itself.
func (c *conn) writeFailed(err error) {
	o := &c.out
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.endFromOutside(ending{reason: ReasonSlowConsumer, code: 1008, leave: true, hard: true, detail: "write timed out after " + c.rl.opts.WriteTimeout.String()})
	} else {
		c.endFromOutside(ending{reason: ReasonClientClosed, code: 1006, leave: true, hard: true, detail: err.Error()})
	}
	o.close()
	o.mu.Lock()
	o.writing = false
	o.mu.Unlock()
}

// enqueueClose queues the close frame after what is already queued; it
// is taken even when the queue is full.
func (c *conn) enqueueClose(code int, reason string) {
	o := &c.out
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.q = append(o.q, frame{op: opClose, code: code, reason: reason})
	o.frames++
	o.closed = true // nothing after the close frame
	o.wakeLocked()
	start := !o.writing
	o.writing = true
	o.mu.Unlock()
	if start {
		c.rl.writers.add()
		go c.writeLoop()
	}
}

// writeLoop writes the queue until it is empty. It takes every frame
// queued at once, so a burst goes to the network in one write.
func (c *conn) writeLoop() {
	defer c.rl.writers.done()
	o := &c.out
	for {
		o.mu.Lock()
		batch := o.q
		o.q = nil
		if len(batch) == 0 {
			o.writing = false
			o.mu.Unlock()
			return
		}
		o.mu.Unlock()
		last, err := c.writeBatch(batch)
		clear(batch) // the payloads are released as soon as they are written
		if err != nil {
			c.writeFailed(err)
			return
		}
		if last {
			// The close frame: nothing follows it, and the socket is
			// closed (the reader then stops, if it has not).
			o.close()
			_ = c.sock.Conn.Close()
			return
		}
	}
}

// writeBatch writes frames in order; it reports whether the last was a
// close frame.
func (c *conn) writeBatch(batch []frame) (last bool, err error) {
	held := len(batch) > 1
	if held {
		c.sock.holdWrites()
	}
	for i := range batch {
		f := &batch[i]
		if f.op == opClose {
			// The network connection is closed right after the close
			// frame: what was collected goes first.
			if held {
				held = false
				if err = c.sock.flush(); err != nil {
					return false, err
				}
			}
			return true, c.write(f)
		}
		if err = c.write(f); err != nil {
			break
		}
		c.sent(f)
	}
	if held {
		if ferr := c.sock.flush(); err == nil {
			err = ferr
		}
	}
	return false, err
}

// segmentAbove is the payload size above which a message is written in
// segments (fragments of segmentAbove bytes) rather than framed whole:
// each write is bounded by WriteTimeout, and a compressed message's
// buffer is written a segment at a time too.
const segmentAbove = 128 << 10

// compressAbove: with permessage-deflate, a message larger than this is
// sent compressed; smaller ones gain little for the work.
const compressAbove = 512

// write writes one frame. The payload may be shared with other
// connections (see payload.go): it is only read, written to the socket as
// it is (copied only into a batch, when small), or compressed from.
func (c *conn) write(f *frame) error {
	var hdr [maxHeader]byte
	if f.rest != nil { // the end of a frame begun inline: counted then
		_, err := c.sock.Write(f.rest)
		return err
	}
	switch f.op {
	case opClose:
		p := closePayload(f.code, f.reason)
		err := c.sock.writeFrame(appendHeader(hdr[:0], true, false, opClose, len(p)), p)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		return err
	case opPing:
		return c.sock.writeFrame(appendHeader(hdr[:0], true, false, opPing, 0), nil)
	case opPong:
		p := c.takePong()
		return c.sock.writeFrame(appendHeader(hdr[:0], true, false, opPong, len(p)), p)
	}
	c.rl.opts.Metrics.FrameOut(len(f.data))
	if c.out.deflate && len(f.data) > compressAbove {
		return c.writeCompressed(f)
	}
	return c.writeSegments(f.op, false, f.data)
}

// writeSegments writes a message in one frame, or in fragments of
// segmentAbove bytes when it is larger; rsv1 marks it compressed.
func (c *conn) writeSegments(op opcode, rsv1 bool, p []byte) error {
	var hdr [maxHeader]byte
	for {
		n := min(len(p), segmentAbove)
		fin := n == len(p)
		if err := c.sock.writeFrame(appendHeader(hdr[:0], fin, rsv1, op, n), p[:n]); err != nil {
			return err
		}
		if fin {
			return nil
		}
		p, op, rsv1 = p[n:], opContinuation, false
	}
}

// flateWriters are reused: a writer is large, and messages are
// independent (server_no_context_takeover).
var flateWriters = sync.Pool{New: func() any {
	w, _ := flate.NewWriter(nil, flate.BestSpeed)
	return w
}}

// writeCompressed writes a message compressed (RFC 7692 7.2.1).
func (c *conn) writeCompressed(f *frame) error {
	buf := getHoldBuf(len(f.data)/2 + 64)
	out := bytes.NewBuffer(buf)
	fw := flateWriters.Get().(*flate.Writer)
	fw.Reset(out)
	_, _ = fw.Write(f.data)
	_ = fw.Flush()
	flateWriters.Put(fw)
	z := bytes.TrimSuffix(out.Bytes(), deflateTail[:4])
	err := c.writeSegments(f.op, true, z)
	putHoldBuf(out.Bytes()[:0])
	return err
}
