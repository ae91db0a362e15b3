package wsrelay

import (
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// Reasons in ws.leave (and in the result of a connection process).
const (
	ReasonClientClosed = "client_closed"
	ReasonServerClosed = "server_closed"
	ReasonTransferred  = "transferred"
	ReasonShutdown     = "shutdown"
	ReasonTimeout      = "timeout"
	ReasonSlowConsumer = "slow_consumer"
	ReasonError        = "error"
	// ReasonNodeDown: the client's node was lost (a cluster); the
	// target's node sends this ws.leave on the client's behalf.
	ReasonNodeDown = "node_down"
	// Reasons of connection processes that end with their target; the
	// target gets no ws.leave then.
	ReasonTargetExited = "target_exited"
	ReasonTargetFailed = "target_failed"
)

// The type field of a client frame.
var typeText, typeBinary = value.String("text"), value.String("binary")

// topicEnd tells a connection process that its socket side has ended.
const topicEnd = "@end"

// connState is where a connection is in its life; it only moves on.
type connState uint8

const (
	// stateOpening: the process exists and its ws.join is owed (the
	// target's mailbox, or the queue toward its node, has not taken it
	// yet): the client's frames wait.
	stateOpening connState = iota
	// stateOpen: the join went; the client's frames are relayed.
	stateOpen
	// stateClosing: the connection has ended (finish): nothing more is
	// relayed; its ws.leave may still be owed, its close frame queued.
	stateClosing
	// stateClosed: and nothing is owed any more (closedWait).
	stateClosed
)

// conn is one WebSocket connection: the reactive process behind a client
// PID. The reader (inbound.run, on whichever goroutine reads the socket),
// the process's handler, timers and the writer share it. Its relay state
// (the fields marked "owner's") belongs to its owner (owner.go): each of
// them posts an event that reads or changes it (the process waits until
// its own have run), and the events run one at a time, in order, so that a frame is never sent to a target that has
// been replaced, and ws.join and ws.leave are ordered with the frames
// around them. Nobody takes a lock over that state, and nothing waits in
// an event: what the connection owes its targets goes through the owed
// queue (owed.go), sent when there is room; a reader held back waits
// outside the owner and posts again.
//
// The socket side (sock, in, out) and the process side (the PID, the
// target, the owed queue, the counts of frames each way) are apart: the
// frames counted each way (framesIn, framesOut) are what a socket
// attached later would resume from.
type conn struct {
	rl      *Relay
	sock    *socket  // what frames are written to
	in      *inbound // what reads the client's frames
	remote  string
	origin  string                 // the Origin header, for observers (cut)
	path    string                 // the request path and query, for observers (cut)
	started int64                  // unix nanoseconds of the upgrade
	trace   atomic.Pointer[tracer] // set while an observer traces it (inspect.go)

	own owner // runs the events that read and change the owner's fields

	// The owner's: set by open, then changed only by events.
	pid        pid.PID
	pidVal     value.Value // the client PID as a string value
	target     pid.PID
	topic      string
	raw        bool // client frames go to the target as their data alone (clientPayload)
	metadata   value.Value
	heartbeat  time.Duration
	beatTimer  *time.Timer
	pingTimer  *time.Timer
	pingSent   int64 // unix nanoseconds of the ping in flight; 0: none
	state      connState
	stateSeen  atomic.Uint32 // state, for observers (Trace)
	done       chan struct{} // closed at stateClosed; made when waited for (closedWait)
	end        *ending       // how it ends, from stateClosing on
	targetGone bool          // the target has exited: it gets no ws.leave
	joined     bool          // the target's ws.join went or is owed: it is owed a ws.leave
	exitWanted bool          // the process is to exit once nothing is owed (exit)
	owned      bool          // the handler spawned the target for this connection: it is cancelled with it

	// The socket side (detach.go): detached, the connection has no
	// socket and what is sent to the client waits (det says until when);
	// readersLive counts its readers that have not ended; attaches counts
	// the sockets attached since the first (a detach's timer is for one
	// of them).
	detached    bool
	readersLive int32
	attaches    uint32
	det         *detachment

	// Flow control (flow.go), the owner's, and a channel closed when a
	// held-back reader must look again (the connection ended, or its
	// target changed), made when a reader waits (wakeChan).
	flow flow
	wake chan struct{}

	lastRead atomic.Int64 // unix nanoseconds of the last frame from the client

	// Frames each way: from the client relayed to its targets (by the
	// owner), and data frames written to the client (by whoever writes);
	// anyone reads them.
	framesIn  atomic.Int64
	framesOut atomic.Int64
	bytesIn   atomic.Int64 // their payload bytes
	bytesOut  atomic.Int64 // and those written to the client

	// The owed queue (owed.go), the owner's: what is owed to the targets,
	// in order; a channel closed once it is empty (a reader waiting to
	// relay a frame looks again); whether a waitOwed goroutine waits, and
	// whether its wait counts as a hold.
	owed        []owed
	owedClear   chan struct{}
	owedWaiting bool
	owedHeld    bool

	pongMu     sync.Mutex
	pong       []byte // payload of the latest ping, for the queued pong
	pongQueued bool   // a pong waits in the outbox

	out outbox
}

// ending is how and why a connection ends.
type ending struct {
	reason    string // ws.leave reason
	code      int    // close code for ws.leave; 0 when unknown
	leave     bool   // tell the target with ws.leave
	closeCode int    // close frame to send; 0 sends none
	closeText string
	hard      bool // close the socket at once, without a close frame
	gone      bool // the target cannot be reached: no ws.leave, no cancel
	detail    string
}

// result is the connection process's exit result for an ending.
func (e ending) result() process.Result {
	fields := []value.Field{{Key: "reason", Value: value.String(e.reason)}}
	if e.code != 0 {
		fields = append(fields, value.Field{Key: "code", Value: value.Int(int64(e.code))})
	}
	r := process.Result{Value: value.Map(fields...)}
	switch e.reason {
	case ReasonTimeout, ReasonSlowConsumer, ReasonError, ReasonTargetFailed:
		r.Err = &CloseError{Reason: e.reason, Code: e.code, Detail: e.detail}
	}
	return r
}

func newConn(rl *Relay, sock *socket, in *inbound, h Header, remote string) *conn {
	c := &conn{rl: rl, sock: sock, in: in, remote: remote, started: time.Now().UnixNano(), target: h.Target, topic: h.Topic, metadata: h.Metadata, heartbeat: h.Heartbeat, raw: h.RawPayload || rl.opts.RawPayload}
	c.out.init(&rl.opts, &rl.outBytes)
	c.out.deflate = in.deflate
	sock.initRaw()
	c.lastRead.Store(c.started)
	in.c = c
	return c
}

// setState moves the connection on; run by the owner.
func (c *conn) setState(s connState) {
	c.state = s
	c.stateSeen.Store(uint32(s))
}

// seenState is the connection's state, for anyone (observers).
func (c *conn) seenState() connState { return connState(c.stateSeen.Load()) }

// open spawns the connection process, watching its target, and queues
// ws.join (owed.go). It is the connection's first event, run here (nobody
// else knows the connection yet), so no event of the process runs before
// the join is queued and the timers are set. A
// target on another node is watched by the monitor that carries the
// node_down notice, queued before the join (a spawn's watch refused for a
// full queue would end the connection at once). When the target's mailbox
// or the queue toward its node is full, open returns with the join owed
// (stateOpening): the client's frames wait for it, while a close from
// either side ends the connection as usual. If that monitor or the join
// cannot be delivered (the node is down, say), the client is closed at
// once with the code of its target gone that way (undelivered.go).
func (c *conn) open() error {
	var err error
	c.own.do(func(bool) { err = c.opened() })
	return err
}

// opened is open's event.
func (c *conn) opened() error {
	watch := []pid.PID{c.target}
	if !c.rl.node.IsLocal(c.target) {
		watch = nil
	}
	p, err := c.rl.node.SpawnReactive(c.rl.opts.Host, c, process.SpawnOptions{Watch: watch, Quiet: true, Entry: ProcessEntry})
	if err != nil {
		return err
	}
	c.pid, c.pidVal = p, value.String(p.String())
	c.rl.opts.Metrics.Opened() // every process that exists ends with Closed
	if !c.rl.add(c) {
		// Shutdown began between the upgrade and here: the target never
		// got ws.join, so it gets no ws.leave either (relay answers 1001).
		c.setState(stateClosed)
		c.end = &ending{reason: ReasonShutdown, code: 1001}
		c.rl.opts.Metrics.Closed(ReasonShutdown)
		_ = c.rl.node.Terminate(p)
		return process.ErrShuttingDown
	}
	// A target on another node: its monitor first, as a local target's
	// watch comes before the join (a target that ends as soon as it has
	// the join must not look gone before it was watched).
	c.notice()
	c.pushOwed(owed{kind: owedJoin, target: c.target, payload: c.fields()})
	c.readersLive = 1 // the caller starts it
	failed := c.drainOwed()
	c.startBeat()
	if c.rl.opts.PingInterval > 0 {
		c.pingTimer = time.AfterFunc(c.rl.opts.PingInterval, c.pingTick)
	}
	if failed != nil {
		c.lost(failed.topic, failed.target, failed.err)
	}
	return nil
}

// fields are the payload fields every message to the target has.
func (c *conn) fields(extra ...value.Field) value.Value {
	fs := append([]value.Field{{Key: "client_pid", Value: c.pidVal}, {Key: "metadata", Value: c.metadata}}, extra...)
	return value.Map(fs...)
}

// notice queues, for a target on another node, the ws.leave (reason
// node_down) its node delivers to the target if this node is lost: one
// leave per join holds across a node loss. Sending ws.leave spends it
// (process.Process.MonitorNotice). The monitor that carries it cannot be
// placed when that node is down: the client is then closed
// (undelivered.go). Run by the owner.
func (c *conn) notice() {
	if c.rl.node.IsLocal(c.target) || c.targetGone {
		return
	}
	leave := c.fields(value.Field{Key: "reason", Value: value.String(ReasonNodeDown)})
	c.pushOwed(owed{kind: owedNotice, target: c.target, payload: leave})
}

// sendBeat sends to the target what it may miss (ws.heartbeat): a full
// mailbox drops it (counted and logged by the runtime), and so does a
// full queue toward the target's node (counted by the transport); the
// next one follows. It returns any other error: the caller closes the
// client (undelivered.go). Run by the owner.
func (c *conn) sendBeat(topic string, payload value.Value) error {
	err := c.rl.node.Send(c.pid, c.target, topic, payload)
	if errors.Is(err, process.ErrMailboxFull) || errors.Is(err, process.ErrBacklog) {
		return nil
	}
	return err
}

// frameIn relays one frame from the client (on the reader goroutine).
//
// The reader waits, and stops reading the client, while the client's
// frames its target has not taken yet reach InflightMaxBytes (or a quarter of
// OutboundQueue frames), while the target's mailbox is full, or while what
// waits to be written to this client (its outbound queue and its
// process's mailbox) reaches OutboundPauseBytes (or a quarter of
// OutboundQueue frames), so TCP pushes back on the client. A client that sends faster than it reads what comes
// back (say, one pipelining requests to an echoing target) is slowed
// down, not cut off: what is in flight toward it stays under its
// OutboundMaxBytes. Nothing is dropped, and other clients are not held
// up. The reader holds back after relaying a frame, before it reads the
// next, so what a held-back client sends waits in its socket. It sleeps on
// a signal (the target took a frame, the target's mailbox or the outbound
// queue has room, the connection ended or changed target), never on a
// timer. The reader posts each look to the owner (readTurn.step) and
// waits outside it, so a transfer or a close can happen meanwhile; a
// frame held by a full mailbox then goes to whichever target is current
// when it is taken, still in order. The wait is the server holding the
// client back (holdBegin): it counts toward neither the ping deadline nor
// a read timeout.
func (c *conn) frameIn(op opcode, b string) {
	c.touch()
	c.rl.opts.Metrics.FrameIn(len(b))
	t := readTurns.Get().(*readTurn)
	t.c, t.op, t.b = c, op, b
	t.typ, t.data = typeText, value.String(b)
	if op == opBinary {
		t.typ, t.data = typeBinary, value.BytesString(b)
	}
	paused := ""
	for {
		if !c.own.do(t.fn) {
			<-t.ran // the goroutine running the owner's events ran it
		}
		if t.over {
			break
		}
		paused = c.pause(t.cause, paused)
		select {
		case <-t.wait:
		case <-t.wake:
		case <-t.taken:
		}
	}
	fn, ran := t.fn, t.ran
	*t = readTurn{fn: fn, ran: ran}
	readTurns.Put(t)
}

// readTurn is a frame the reader hands to the owner, and what the owner
// decided for it: relayed, and the reader may read on (over), or what to
// wait for before it asks again. Only the reader and, while the reader
// waits for its post, the owner touch it.
type readTurn struct {
	c    *conn
	fn   func(here bool) // t.step, bound once
	ran  chan struct{}   // the owner ran step on another goroutine
	op   opcode
	b    string
	typ  value.Value
	data value.Value

	relayed bool            // the frame went to the target
	sent    process.Receipt // its receipt; the zero one counts as taken
	held    bool            // a hold (holdBegin) is under way for it

	over              bool
	wait, wake, taken <-chan struct{} // what to wait for; nil ones never come
	cause             string          // why, for the pause metric
}

var readTurns = sync.Pool{New: func() any {
	t := &readTurn{ran: make(chan struct{}, 1)}
	t.fn = t.step
	return t
}}

// step is the owner's look at the reader's frame (readStep); run on
// another goroutine, it tells the reader it ran.
func (t *readTurn) step(here bool) {
	t.c.readStep(t)
	if !here {
		t.ran <- struct{}{}
	}
}

// readStep relays the reader's frame, then decides whether the reader
// may read the next one. Run by the owner.
func (c *conn) readStep(t *readTurn) {
	t.over, t.wait, t.wake, t.taken, t.cause = false, nil, nil, nil, ""
	if c.state >= stateClosing {
		t.over = true
		return
	}
	if !t.relayed {
		// Relay the frame; a join or a leave owed goes first, and a full
		// mailbox (or queue toward the target's node) holds it.
		if len(c.owed) > 0 {
			// A join or a leave is owed (it waits for room, as a frame
			// would: that wait is a hold already): the frame goes after it.
			t.wait, t.wake = c.owedClear, c.wakeChan()
			return
		}
		n := len(t.b)
		payload := clientPayload(c.raw, c.pidVal, t.data, c.metadata, t.typ)
		r, err := c.rl.node.TrySend(c.pid, c.target, c.topic, payload)
		switch {
		case err == nil:
			t.relayed, t.sent = true, r
			c.framesIn.Add(1)
			c.bytesIn.Add(int64(n))
			c.flow.sent(r, n)
			c.traced(TraceEvent{Kind: "in", Type: frameType(t.op), Size: n}, shared(t.b))
		case refusedForRoom(err):
			// Wait for room, then try again.
			t.wait, t.wake, t.cause = c.rl.node.MailboxRoom(c.target, 0), c.wakeChan(), PauseTargetMailbox
			if !t.held {
				c.holdBegin()
				t.held = true
			}
			return
		default:
			// The target cannot be reached: the client is closed now,
			// not left sending frames that go nowhere.
			if t.held {
				c.holdEnd()
			}
			t.over = true
			c.lost(c.topic, c.target, err)
			return
		}
	}
	// Then the next frame may be taken in only once the client is not
	// held back: a held-back client's next frame waits in its socket, not
	// in memory.
	if c.detached {
		// The frame's socket has gone: its reader ends (detach.go).
		if t.held {
			c.holdEnd()
		}
		t.over = true
		return
	}
	if c.in.heldTilNext {
		// An inflated frame's share of the budget goes back once the
		// target has it, not when the reader reads on: the reader may be
		// held back on for what waits to be written to the client.
		if t.sent.Taken() {
			c.in.relayed()
		} else {
			t.taken = t.sent.Done()
		}
	}
	wait, cause := c.heldBack()
	if wait == nil {
		if t.held {
			c.holdEnd()
		}
		t.over = true
		return
	}
	if !t.held {
		c.holdBegin()
		t.held = true
	}
	t.wait, t.wake, t.cause = wait, c.wakeChan(), cause
}

// HandleMessage handles a message to the client PID. Frames for the
// client are queued from here (the outbox has its own lock); what
// changes the connection's state is run by its owner (call), and the
// process goes on once it has run: a frame the process queues after a
// ws.close, say, finds the connection closing, as it would have had the
// close been handled here. (The owner's events never wait, so neither
// does this for long.)
func (c *conn) HandleMessage(p *process.Process, m process.Message) error {
	defer c.flushOwned() // once the mailbox is empty, what this burst queued goes out
	var err error
	switch m.Topic {
	case topicEnd:
		c.call(func() { c.exit(p) })
		return nil
	case TopicSend:
		var f frame
		if f, err = parseSend(m.Payload, c.out.maxBytes); err == nil {
			c.enqueueOwned(f)
		}
	case TopicClose:
		code, reason, fixed, perr := parseClose(m.Payload)
		if err = perr; err == nil {
			if fixed {
				c.rl.appLog.Warn("ws.close: that close code may not be sent; sending 1000", "client", p.PID().String(), "from", m.From.String(), "payload", logClip(m.Payload.String()))
			}
			c.call(func() {
				c.finish(ending{reason: ReasonServerClosed, code: code, leave: true, closeCode: code, closeText: reason})
				c.exit(p)
			})
		}
	case TopicControl:
		var ctl control
		if ctl, err = parseControl(m.Payload); err == nil {
			if len(ctl.unknown) > 0 {
				c.rl.appLog.Warn("ws.control: fields not known here were ignored; the others are applied", "client", p.PID().String(), "from", m.From.String(), "fields", strings.Join(ctl.unknown, ","))
			}
			c.call(func() { c.control(p, ctl) })
		}
	default:
		if strings.HasPrefix(m.Topic, "@") {
			return nil
		}
		var f frame
		if f, err = topicFrame(m.Topic, m.Payload, c.out.maxBytes); err == nil {
			c.enqueueOwned(f)
		}
	}
	if err != nil {
		c.rl.appLog.Warn("message to a websocket client ignored", "client", p.PID().String(), "from", m.From.String(), "error", logClip(err.Error()))
	}
	return nil
}

// HandleEvent handles the target's EXIT and a CANCEL.
func (c *conn) HandleEvent(p *process.Process, e process.Event) error {
	switch e.Kind {
	case process.EventExit:
		c.call(func() { c.targetExited(p, e) })
	case process.EventCancel:
		reason := ReasonServerClosed
		if e.Reason == "shutdown" {
			reason = ReasonShutdown
		}
		c.call(func() {
			c.finish(ending{reason: reason, code: 1001, leave: true, closeCode: 1001, closeText: "server shutting down"})
			c.exit(p)
		})
	}
	return nil
}

// targetExited handles an EXIT: the connection ends with its target.
// Run by the owner.
func (c *conn) targetExited(p *process.Process, e process.Event) {
	if e.From != c.target {
		return // a target it left (a transfer)
	}
	c.targetGone = true
	// The process runtime hands over the target's EXIT only after every
	// message the target sent before it ended, so a goodbye frame or a
	// ws.close with its own code has been handled already.
	if e.Result.Err == nil {
		c.finish(ending{reason: ReasonTargetExited, closeCode: 1000, closeText: "target exited"})
	} else if errors.Is(e.Result.Err, process.ErrNoConnection) { // the target's node was lost (cluster)
		c.finish(ending{reason: ReasonTargetFailed, code: 1011, closeCode: 1011, closeText: closeNodeLost, detail: e.Result.Err.Error()})
	} else {
		// The connection monitors its target, so the target's failure
		// is reported here rather than by a crash report (unless it
		// ended before the watch began: then its crash report has it).
		msg := "websocket relay target failed"
		if errors.Is(e.Result.Err, process.ErrNoProc) {
			msg = "websocket relay target was not alive (it ended before the relay could watch it; if it failed, its crash report says why)"
		}
		c.rl.node.LogFailure(c.rl.log, msg, "client", p.PID().String(), "target", e.From.String(), "error", logClipLong(e.Result.Err.Error()))
		c.finish(ending{reason: ReasonTargetFailed, code: 1011, closeCode: 1011, closeText: closeTargetFailed, detail: e.Result.Err.Error()})
	}
	c.exit(p)
}

// Terminate runs when the process has ended, however it ended. A process
// ended from outside (terminated, or a linked process failed) closes its
// socket with 1011.
func (c *conn) Terminate(p *process.Process, r process.Result) {
	detail := "terminated"
	if r.Err != nil {
		detail = r.Err.Error()
	}
	c.call(func() {
		c.finish(ending{reason: ReasonError, code: 1011, leave: true, closeCode: 1011, closeText: "connection process ended", detail: detail})
	})
}

// exit ends the process with the connection's result, once nothing is
// owed (stateClosed): until then the process lives on, so that what it
// owes goes from a live PID, its monitor and notice included, and its
// exit comes after its ws.leave. closedIfDone asks again (topicEnd). Run
// by the owner, after finish.
func (c *conn) exit(p *process.Process) {
	if c.state == stateClosing {
		c.exitWanted = true
		return
	}
	p.Exit(c.end.result())
}

// finish ends the connection once (stateClosing): it stops the timers,
// queues ws.leave when it should (behind a join still owed: one leave per
// join), and closes the socket. It never waits for room: a leave refused
// for a full mailbox or queue is sent once there is room (owed.go), and
// the connection is closed (stateClosed) once it has gone. It reports
// whether this call ended it. Run by the owner.
func (c *conn) finish(e ending) bool {
	if c.state >= stateClosing {
		return false
	}
	c.setState(stateClosing)
	c.end = &e
	c.traced(TraceEvent{Kind: "close", Detail: e.describe()}, nil)
	if e.gone {
		c.targetGone = true
	}
	c.wakeReader()                     // a paused reader returns
	c.rl.opts.Metrics.Closed(e.reason) // before ws.leave: whoever sees it sees the count
	if c.beatTimer != nil {
		c.beatTimer.Stop()
	}
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	if c.det != nil {
		c.det.timer.Stop()
	}
	if e.leave && !c.targetGone && c.joined {
		var extra []value.Field
		extra = append(extra, value.Field{Key: "reason", Value: value.String(e.reason)})
		if e.code != 0 {
			extra = append(extra, value.Field{Key: "code", Value: value.Int(int64(e.code))})
		}
		c.pushOwed(owed{kind: owedLeave, target: c.target, payload: c.fields(extra...)})
	}
	if c.owned && !c.targetGone && !c.rl.node.HasName(c.target) {
		// After ws.leave, from the same sender: the target receives the
		// leave, then its inbox reports closed. (A target registered
		// under a name is shared, a room others join: never cancelled.)
		c.pushOwed(owed{kind: owedCancel, target: c.target, reason: e.reason})
	}
	_ = c.drainOwed() // ending: a failure is logged
	c.in.close()
	c.rl.clientLog.Debug("websocket connection ended", "client", c.pid.String(), "reason", e.reason, "code", e.code, "detail", logClip(e.detail))
	switch {
	case c.detached:
		// No socket: what waited for one is let go, and no reader
		// will take the connection off the relay's set.
		c.out.close()
		c.rl.remove(c)
	case e.closeCode != 0 && !e.hard:
		c.enqueueClose(e.closeCode, e.closeText) // the writer closes the socket after it
	default:
		c.out.close()
		_ = c.sock.Conn.Close()
	}
	return true
}

// endFromOutside posts the end of the connection from a goroutine other
// than the process's (end).
func (c *conn) endFromOutside(e ending) {
	c.own.do(func(bool) { c.endWith(e) })
}

// endWith finishes the connection and lets the process exit; it reports
// whether this call ended it. Run by the owner.
func (c *conn) endWith(e ending) bool {
	if c.finish(e) {
		_ = c.rl.node.SendSystem(c.pid, c.pid, topicEnd, value.Nil())
		return true
	}
	return false
}

// control applies a ws.control: transfer and/or reconfigure. What a
// transfer sends (the old target's ws.leave, the new one's ws.join, the
// monitor of the new one and its node_down notice) is queued in that
// order (owed.go): a full mailbox or queue delays it, and the client's
// frames behind it, without holding up the connection. When it cannot be
// delivered, the client is closed at once (undelivered.go): frames the
// old target may not have taken are lost with its node, and the new one
// cannot be reached. Run by the owner.
func (c *conn) control(p *process.Process, ctl control) {
	if c.state >= stateClosing {
		return
	}
	c.applyControl(p, ctl)
	if failed := c.drainOwed(); failed != nil {
		c.lost(failed.topic, failed.target, failed.err)
	}
}

// applyControl is control without the drain of what it queued.
func (c *conn) applyControl(p *process.Process, ctl control) {
	if ctl.target != nil && *ctl.target != c.target {
		old := c.target
		if c.joined && !c.targetGone {
			c.pushOwed(owed{kind: owedLeave, target: old, payload: c.fields(value.Field{Key: "reason", Value: value.String(ReasonTransferred)})})
		}
		_ = p.Unmonitor(old)
		c.target, c.targetGone, c.joined = *ctl.target, false, false
		// A reader paused for the old target looks again; what the old
		// target has not taken no longer holds this client back.
		c.wakeReader()
		c.flow.forget()
		c.owned = false // neither the old target nor the new one is owned
		if ctl.topic != nil {
			c.topic = *ctl.topic
		}
		if ctl.metadata != nil {
			c.metadata = *ctl.metadata
		}
		c.pushOwed(owed{kind: owedJoin, target: c.target, payload: c.fields()})
		c.traced(TraceEvent{Kind: "control", Detail: "target " + c.target.String()}, nil)
		// A dead target gives EXIT noproc at once: the connection closes
		// as if the target had failed. A target whose node is down
		// cannot be monitored: the client is closed.
		c.pushOwed(owed{kind: owedMonitor, target: c.target, proc: p})
		c.notice()
	} else {
		if ctl.topic != nil {
			c.topic = *ctl.topic
		}
		if ctl.metadata != nil {
			c.metadata = *ctl.metadata
			// The node_down leave carries the new metadata.
			c.notice()
		}
	}
	if ctl.heartbeat != nil {
		c.heartbeat = *ctl.heartbeat
		if c.beatTimer != nil {
			c.beatTimer.Stop()
			c.beatTimer = nil
		}
		c.startBeat()
	}
}

// startBeat sets the heartbeat timer; run by the owner. The timer posts
// to the owner (beat).
func (c *conn) startBeat() {
	if c.heartbeat > 0 {
		c.beatTimer = time.AfterFunc(c.heartbeat, c.beat)
	}
}

// beat is the heartbeat timer: it posts beatNow.
func (c *conn) beat() { c.own.do(func(bool) { c.beatNow() }) }

// beatNow sends ws.heartbeat and sets the next one; it is skipped while
// a join or a leave is owed (it may not pass them). A heartbeat that
// cannot be delivered for another reason than a full mailbox or queue
// closes the client (undelivered.go). Run by the owner.
func (c *conn) beatNow() {
	if c.state >= stateClosing || c.heartbeat == 0 {
		return
	}
	var err error
	if len(c.owed) == 0 {
		// (While a join or leave is owed, the heartbeat is skipped: it
		// may not pass them, and the next one follows.)
		uptime := time.Duration(time.Now().UnixNano() - c.started).Truncate(time.Second)
		err = c.sendBeat(TopicBeat, c.fields(
			value.Field{Key: "uptime", Value: value.String(uptime.String())},
			value.Field{Key: "message_count", Value: value.Int(c.framesIn.Load())},
		))
	}
	if err != nil {
		c.lost(TopicBeat, c.target, err)
		return
	}
	c.beatTimer = time.AfterFunc(c.heartbeat, c.beat)
}

// pingTick is the ping timer: it posts pingNow.
func (c *conn) pingTick() { c.own.do(func(bool) { c.pingNow() }) }

// pingNow pings a client that has been silent for PingInterval and
// closes one that stayed silent for PongTimeout after the ping. The time
// the server holds the client back does not count (holdBegin): it
// neither pings nor closes meanwhile, and looks again a PingInterval
// later. Run by the owner.
func (c *conn) pingNow() {
	o := c.rl.opts
	if c.state >= stateClosing {
		return
	}
	if c.flow.holds > 0 {
		c.pingTimer = time.AfterFunc(o.PingInterval, c.pingTick)
		return
	}
	now := time.Now().UnixNano()
	last := c.lastRead.Load()
	if c.pingSent != 0 && last <= c.pingSent {
		if left := time.Duration(c.pingSent + int64(o.PongTimeout) - now); left > 0 {
			// A hold moved the deadline on.
			c.pingTimer = time.AfterFunc(left, c.pingTick)
			return
		}
		c.endWith(ending{reason: ReasonTimeout, leave: true, hard: true, detail: "no answer to a ping within " + o.PongTimeout.String()})
		return
	}
	if idle := time.Duration(now - last); idle < o.PingInterval {
		c.pingSent = 0
		c.pingTimer = time.AfterFunc(o.PingInterval-idle, c.pingTick)
		return
	}
	c.pingSent = now
	c.pingTimer = time.AfterFunc(o.PongTimeout, c.pingTick)
	c.enqueue(frame{op: opPing})
}

// touch records that the client sent something: it is alive.
func (c *conn) touch() { c.lastRead.Store(time.Now().UnixNano()) }

// pingIn answers a ping with a pong (on the reader goroutine). Pongs are
// coalesced: while one waits to be written, a new ping only replaces its
// payload (RFC 6455 5.5.3 lets an endpoint answer only the latest ping),
// so a client that floods pings gets at most one pong queued, not a full
// outbound queue.
func (c *conn) pingIn(payload []byte) {
	c.touch()
	c.pongMu.Lock()
	c.pong = append(c.pong[:0], payload...)
	queued := c.pongQueued
	c.pongQueued = true
	c.pongMu.Unlock()
	if !queued {
		c.enqueue(frame{op: opPong})
	}
}

// takePong returns the payload of the pong to write now.
func (c *conn) takePong() []byte {
	c.pongMu.Lock()
	defer c.pongMu.Unlock()
	p := c.pong
	c.pong, c.pongQueued = nil, false
	return p
}

// wakeChan returns the channel a held-back reader waits on besides what
// holds it back, made the first time one waits. Run by the owner.
func (c *conn) wakeChan() <-chan struct{} {
	if c.wake == nil {
		c.wake = make(chan struct{})
	}
	return c.wake
}

// wakeReader wakes a held-back reader: it looks again (the connection
// ended, or changed target or socket). Run by the owner.
func (c *conn) wakeReader() {
	if c.wake != nil {
		close(c.wake)
		c.wake = nil
	}
}

// closedWait returns a channel closed once the connection is closed
// (stateClosed: nothing is owed any more). Not for an owner's event.
func (c *conn) closedWait() <-chan struct{} {
	var ch chan struct{}
	c.call(func() {
		if c.done == nil {
			c.done = make(chan struct{})
			if c.state == stateClosed {
				close(c.done)
			}
		}
		ch = c.done
	})
	return ch
}

// closedIfDone moves a closing connection to stateClosed once nothing is
// owed any more. Run by the owner.
func (c *conn) closedIfDone() {
	if c.state == stateClosing && len(c.owed) == 0 {
		c.setState(stateClosed)
		if c.done != nil {
			close(c.done)
		}
		if c.exitWanted {
			_ = c.rl.node.SendSystem(c.pid, c.pid, topicEnd, value.Nil())
		}
	}
}

// closeIn handles the client's close frame (checked already): the
// connection ends, its close is answered with the same code (1000 for a
// close without one) after what is queued, and the target gets ws.leave
// with the client's code (1005 for none).
func (c *conn) closeIn(code int, reason string) {
	c.touch()
	leaveCode, answer := code, code
	if code == 0 {
		leaveCode, answer = 1005, 1000
	}
	c.endFromOutside(ending{reason: ReasonClientClosed, code: leaveCode, leave: true, closeCode: answer, detail: reason})
}

// clientFailed ends the connection because of what the client sent; the
// close frame goes after what is already queued for the client.
func (c *conn) clientFailed(fe *frameError) {
	reason := ReasonError
	if fe.Timeout {
		reason = ReasonTimeout
	}
	c.own.do(func(bool) {
		if c.finish(ending{reason: reason, code: fe.Code, leave: true, closeCode: fe.Code, closeText: fe.Reason, detail: fe.Reason}) {
			c.rl.clientLog.Info("websocket client closed for what it sent", "remote", c.remote, "client", c.pid.String(), "code", fe.Code, "detail", logClip(fe.Reason))
			_ = c.rl.node.SendSystem(c.pid, c.pid, topicEnd, value.Nil())
		}
	})
}

// recoverPanic, deferred on a goroutine that handles a client's bytes,
// turns a panic into the end of this connection alone: it is logged, the
// client gets 1011 and the target ws.leave (reason error).
func (c *conn) recoverPanic(doing string) {
	v := recover()
	if v == nil {
		return
	}
	c.rl.clientLog.Error("panic while "+doing+"; closing the connection", "remote", c.remote, "client", c.pid.String(), "panic", logClip(fmt.Sprint(v)), "stack", string(debug.Stack()))
	c.own.do(func(bool) {
		if !c.endWith(ending{reason: ReasonError, code: 1011, leave: true, closeCode: 1011, closeText: "internal error", detail: fmt.Sprint("panic: ", v)}) {
			_ = c.sock.Conn.Close()
		}
	})
}
