package wsrelay

import (
	"context"
	"errors"
	"time"
)

// A connection's socket can be detached from its process and another
// attached later: the shape resumable connections need (a client that
// lost its socket comes back on a new one and keeps its PID). The process
// side stays whole while detached: the PID, the target, the owed queue,
// the timers of the process (heartbeat) and the frames counted each way
// (framesIn, framesOut). The socket side goes: the reader ends, the ping
// timer stops, and what is sent to the client waits in its outbound queue,
// bounded and accounted as always (OutboundMaxBytes, OutboundQueue, the
// relay's OutboundBytes): a frame that would take it past its bounds
// closes the connection as a slow consumer, as for a client that does not
// read. A socket attached later gets what waited, in order, then the rest;
// the client's frames are counted on from where they were. A connection
// left detached for longer than the time given to detach ends with reason
// timeout (its target gets ws.leave with that reason).
//
// What is counted each way is what a resuming client and server would
// compare: a frame is counted in once relayed to the target, out once
// written whole. A frame partly written when the socket is detached is
// written whole again on the next one (it was not counted out); a message
// partly read from the client was not counted in, and is not relayed.

// detachment is a detached connection's wait for its next socket.
type detachment struct {
	timer     *time.Timer   // ends the connection (timeout)
	oldReader chan struct{} // closed once the detached socket's reader has ended
}

// errDetach: why a socket cannot be detached or attached now.
type errDetach string

func (e errDetach) Error() string { return "wsrelay: " + string(e) }

// Why detach and attach refuse.
const (
	errNotOpen       = errDetach("cannot detach the socket: the connection is not open (opening, closing or closed)")
	errDetached      = errDetach("cannot detach the socket: it is detached already")
	errWriting       = errDetach("cannot detach the socket: a write to the client is under way; try again once it is done")
	errNotDetached   = errDetach("cannot attach a socket: the connection has one")
	errEndedAttach   = errDetach("cannot attach a socket: the connection has ended")
	errOldReader     = errDetach("cannot attach a socket: the detached socket's reader has not ended (it holds a frame for a target that has no room)")
	errShuttingDown  = errDetach("cannot attach a socket: the relay is shutting down")
	errNoDetachLimit = errDetach("cannot detach the socket: a time limit to attach another is needed")
)

// call runs fn as the connection's owner and waits until it has run. Not
// for an owner's event (it would wait for itself).
func (c *conn) call(fn func()) {
	ran := make(chan struct{})
	if !c.own.do(func(here bool) {
		fn()
		if !here {
			close(ran)
		}
	}) {
		<-ran
	}
}

// detach takes the connection's socket away (see above): its reader ends,
// what is sent to the client waits, and the connection ends with reason
// timeout unless a socket is attached within limit. It refuses (errDetach)
// a connection that is not open, or while a write is under way.
func (c *conn) detach(limit time.Duration) error {
	if limit <= 0 {
		return errNoDetachLimit
	}
	var err error
	c.call(func() { err = c.detachNow(limit) })
	return err
}

// detachNow is detach's event.
func (c *conn) detachNow(limit time.Duration) error {
	switch {
	case c.detached:
		return errDetached
	case c.state != stateOpen:
		return errNotOpen
	}
	if !c.out.detach() {
		return errWriting
	}
	c.takePong() // a pong owed to the socket that goes is not sent
	c.detached = true
	c.det = &detachment{oldReader: make(chan struct{})}
	c.readerGone()
	if c.pingTimer != nil {
		c.pingTimer.Stop()
		c.pingTimer = nil
	}
	// A reader held back looks again and ends (readStep); one waiting for
	// the budget gives up; the socket's close ends its read.
	c.wakeReader()
	c.in.close()
	_ = c.sock.Conn.Close()
	gen := c.attaches
	c.det.timer = time.AfterFunc(limit, func() {
		c.own.do(func(bool) {
			if c.detached && c.attaches == gen {
				c.endWith(ending{reason: ReasonTimeout, leave: true, hard: true, detail: "detached: no socket attached within " + limit.String()})
			}
		})
	})
	c.traced(TraceEvent{Kind: "detach"}, nil)
	return nil
}

// attach gives a detached connection the socket sock, read by in (and
// watched by w, when its reads wait for readiness: see watchConn): what
// waited for the client is written to it first, in order, and its frames
// are relayed and counted on from where the last socket's stopped. It
// refuses (errDetach) a connection that has a socket or has ended. It
// first waits, until ctx is done, for the detached socket's reader to end
// (a frame it holds, waiting for room in the target's mailbox, goes to
// the target before any from the new socket). The caller closes a socket
// refused.
func (c *conn) attach(ctx context.Context, sock *socket, in *inbound, w *watch) error {
	var gone <-chan struct{}
	c.call(func() {
		if c.det != nil {
			gone = c.det.oldReader
		}
	})
	if gone != nil {
		select {
		case <-gone:
		case <-ctx.Done():
			return errOldReader
		}
	}
	var err error
	c.call(func() { err = c.attachNow(sock, in) })
	if err == nil {
		c.rl.startReader(c, in, w)
	}
	return err
}

// attachNow is attach's event; the caller starts the reader.
func (c *conn) attachNow(sock *socket, in *inbound) error {
	switch {
	case c.state >= stateClosing:
		return errEndedAttach
	case !c.detached:
		return errNotDetached
	case c.readersLive > 0:
		return errOldReader
	}
	rl := c.rl
	rl.mu.Lock()
	closing := rl.closing
	if !closing {
		rl.readers.Add(1) // the new reader: Shutdown waits for it
	}
	rl.mu.Unlock()
	if closing {
		return errShuttingDown
	}
	c.detached = false
	c.attaches++
	c.det.timer.Stop()
	c.det = nil
	c.sock, c.in = sock, in
	in.c = c
	sock.initRaw()
	c.readersLive++
	c.touch()
	c.pingSent = 0
	if c.rl.opts.PingInterval > 0 {
		c.pingTimer = time.AfterFunc(c.rl.opts.PingInterval, c.pingTick)
	}
	c.traced(TraceEvent{Kind: "attach"}, nil)
	c.out.attach(in.deflate, c)
	return nil
}

// readerGone lets an attach that waits for the detached socket's reader
// go on, once it has ended. Run by the owner.
func (c *conn) readerGone() {
	if c.readersLive == 0 && c.det != nil && c.det.oldReader != nil {
		close(c.det.oldReader)
		c.det.oldReader = nil
	}
}

// readerDone is posted when a reader has ended, with why it stopped: for
// the connection's own socket, a read that failed means the client went
// away (1006); other ways a reader stops (a close frame, a bad frame, the
// connection ended) have ended the connection already. The reader of a
// detached socket ends with no more said: the connection goes on.
func (c *conn) readerDone(err error) {
	c.own.do(func(bool) {
		c.readersLive--
		if c.detached {
			c.readerGone()
			return
		}
		var fe *frameError
		// (nil: the reader panicked, and recoverPanic ended the
		// connection.)
		if err != nil && !errors.Is(err, errEnded) && !errors.As(err, &fe) {
			c.endWith(ending{reason: ReasonClientClosed, code: 1006, leave: true, detail: err.Error()})
			_ = c.sock.Conn.Close()
		}
		c.rl.remove(c)
	})
}

// detach stops writing: what is queued (and what is queued from now on)
// waits for attach. It refuses while a write is under way. A frame partly
// written goes whole to the next socket (it was not counted out); pings
// and pongs are for the socket that goes, and are dropped.
func (o *outbox) detach() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.writing || o.closed {
		return false
	}
	q := o.q[:0]
	for _, f := range o.q {
		switch f.op {
		case opPing, opPong:
			o.frames--
			continue
		}
		f.rest = nil
		q = append(q, f)
	}
	clear(o.q[len(q):])
	o.q, o.detached, o.held = q, true, false
	o.wakeLocked()
	return true
}

// attach writes to the connection's new socket: what waited goes first,
// by the writer.
func (o *outbox) attach(deflate bool, c *conn) {
	o.mu.Lock()
	o.detached, o.deflate = false, deflate
	start := len(o.q) > 0 && !o.writing && !o.closed
	if start {
		o.writing = true
	}
	o.mu.Unlock()
	if start {
		c.rl.writers.add()
		go c.writeLoop()
	}
}
