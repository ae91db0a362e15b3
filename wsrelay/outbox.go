package wsrelay

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// outbox is a connection's bounded queue of frames to write. A writer
// goroutine runs only while it has frames; a full queue, or a write that
// takes longer than WriteTimeout, closes the connection as a slow consumer.
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

func (c *conn) writeLoop() {
	o := &c.out
	for {
		o.mu.Lock()
		if len(o.q) == 0 {
			o.writing = false
			o.mu.Unlock()
			return
		}
		f := o.q[0]
		o.q[0] = frame{}
		o.q = o.q[1:]
		if len(o.q) == 0 {
			o.q = nil
		}
		o.mu.Unlock()
		if err := c.write(f); err != nil {
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
		if f.op == gws.OpcodeCloseConnection {
			return
		}
	}
}

func (c *conn) write(f frame) error {
	_ = c.ws.SetWriteDeadline(time.Now().Add(c.rl.opts.WriteTimeout))
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
		return c.ws.WritePong(f.data)
	}
	c.rl.opts.Metrics.FrameOut(len(f.data))
	return c.ws.WriteMessage(f.op, f.data)
}
