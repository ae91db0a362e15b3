package wsrelay

import (
	"errors"
	"net"
	"sync"

	"github.com/lxzan/gws"
)

// outbox is a connection's bounded queue of frames to write. A writer
// goroutine runs only while it has frames; a full queue, or a write that
// takes longer than WriteTimeout, closes the connection as a slow consumer.
// The frames queued while a write was under way go out in one write.
type outbox struct {
	mu      sync.Mutex
	q       []frame
	max     int
	writing bool
	closed  bool
}

func (o *outbox) close() {
	o.mu.Lock()
	o.closed, o.q = true, nil
	o.mu.Unlock()
}

// backedUp reports whether the queue, with pending more frames still to
// come to it, is a quarter full: the reader then stops reading the client
// until the writer has caught up.
func (o *outbox) backedUp(pending int) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.q)+pending >= (o.max+3)/4
}

// enqueue adds a frame to write.
func (c *conn) enqueue(f frame) {
	o := &c.out
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	if len(o.q) >= o.max {
		o.mu.Unlock()
		c.endFromOutside(ending{reason: ReasonSlowConsumer, code: 1008, leave: true, hard: true, detail: "outbound queue full"})
		return
	}
	o.q = append(o.q, f)
	start := !o.writing
	o.writing = true
	o.mu.Unlock()
	if start {
		go c.writeLoop()
	}
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
	o.q = append(o.q, frame{op: gws.OpcodeCloseConnection, code: code, reason: reason})
	o.closed = true // nothing after the close frame
	start := !o.writing
	o.writing = true
	o.mu.Unlock()
	if start {
		go c.writeLoop()
	}
}

// writeLoop writes the queue until it is empty. It takes every frame
// queued at once, so a burst goes to the network in one write.
func (c *conn) writeLoop() {
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
		if err != nil {
			o.close()
			o.mu.Lock()
			o.writing = false
			o.mu.Unlock()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.endFromOutside(ending{reason: ReasonSlowConsumer, code: 1008, leave: true, hard: true, detail: "write timed out after " + c.rl.opts.WriteTimeout.String()})
			} else {
				c.endFromOutside(ending{reason: ReasonClientClosed, code: 1006, leave: true, hard: true, detail: err.Error()})
			}
			return
		}
		if last {
			return // the close frame: nothing follows it
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
	for _, f := range batch {
		if f.op == gws.OpcodeCloseConnection {
			// gws closes the network connection right after the close
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
	}
	if held {
		if ferr := c.sock.flush(); err == nil {
			err = ferr
		}
	}
	return false, err
}

func (c *conn) write(f frame) error {
	switch f.op {
	case gws.OpcodeCloseConnection:
		err := c.ws.WriteClose(uint16(f.code), []byte(f.reason))
		if errors.Is(err, gws.ErrConnClosed) {
			return nil
		}
		return err
	case gws.OpcodePing:
		return c.ws.WritePing(nil)
	case gws.OpcodePong:
		return c.ws.WritePong(c.takePong())
	}
	c.rl.opts.Metrics.FrameOut(len(f.data))
	return c.ws.WriteMessage(f.op, f.data)
}
