package wsrelay

import (
	"errors"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxzan/gws"

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
	// Reasons of connection processes that end with their target; the
	// target gets no ws.leave then.
	ReasonTargetExited = "target_exited"
	ReasonTargetFailed = "target_failed"
)

// The type field of a client frame.
var typeText, typeBinary = value.String("text"), value.String("binary")

// topicEnd tells a connection process that its socket side has ended.
const topicEnd = "@end"

// conn is one WebSocket connection: the reactive process behind a client
// PID. The reader goroutine (gws's read loop), the process's handler,
// timers and the writer share it; mu guards the relay state, so that a
// frame is never sent to a target that has been replaced, and ws.join and
// ws.leave are ordered with the frames around them.
type conn struct {
	rl      *Relay
	ws      *gws.Conn
	sock    *socket // under ws
	remote  string
	started time.Time

	mu         sync.Mutex
	pid        pid.PID
	pidVal     value.Value // the client PID as a string value
	target     pid.PID
	topic      string
	metadata   value.Value
	heartbeat  time.Duration
	beatTimer  *time.Timer
	pingTimer  *time.Timer
	pingSent   time.Time
	count      int64 // frames from the client
	ended      bool
	end        ending
	targetGone bool // the target has exited: it gets no ws.leave

	lastRead atomic.Int64 // unix nanoseconds of the last frame from the client

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

func newConn(rl *Relay, ws *gws.Conn, sock *socket, h Header, remote string) *conn {
	c := &conn{rl: rl, ws: ws, sock: sock, remote: remote, started: time.Now(), target: h.Target, topic: h.Topic, metadata: h.Metadata, heartbeat: h.Heartbeat}
	c.out.max = rl.opts.OutboundQueue
	c.lastRead.Store(c.started.UnixNano())
	ws.Session().Store("", c)
	return c
}

// open spawns the connection process, watching its target, and sends
// ws.join. The lock is held throughout, so nothing of the process runs
// before the join is sent and the timers are set.
func (c *conn) open() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.rl.node.SpawnReactive(c.rl.opts.Host, c, process.SpawnOptions{Watch: []pid.PID{c.target}})
	if err != nil {
		return err
	}
	c.pid, c.pidVal = p, value.String(p.String())
	c.rl.opts.Metrics.Opened() // every process that exists ends with Closed
	if !c.rl.add(c) {
		_ = c.rl.node.Terminate(p)
		return process.ErrShuttingDown
	}
	c.sendLocked(TopicJoin, c.fields())
	c.startBeatLocked()
	if c.rl.opts.PingInterval > 0 {
		c.pingTimer = time.AfterFunc(c.rl.opts.PingInterval, c.pingTick)
	}
	return nil
}

// fields are the payload fields every message to the target has.
func (c *conn) fields(extra ...value.Field) value.Value {
	fs := append([]value.Field{{Key: "client_pid", Value: c.pidVal}, {Key: "metadata", Value: c.metadata}}, extra...)
	return value.Map(fs...)
}

// sendLocked sends to the target; c.mu is held.
func (c *conn) sendLocked(topic string, payload value.Value) {
	if err := c.rl.node.Send(c.pid, c.target, topic, payload); err != nil && !errors.Is(err, process.ErrMailboxFull) {
		c.rl.log.Warn("cannot send to the relay target", "client", c.pid.String(), "target", c.target.String(), "topic", topic, "error", err.Error())
	}
}

// frameIn relays one frame from the client (on the reader goroutine).
//
// The frame waits, and with it the reader, while the target's mailbox is
// full or holds more than a quarter of an outbound queue of messages, or
// while what waits to be written to this client (its outbound queue and
// its process's mailbox) is a quarter of the queue's bound: the relay stops
// reading this client, so TCP pushes back on it. Together these keep a
// client that sends faster than it reads what comes back (say, one
// pipelining requests to an echoing target) from overflowing its own
// outbound queue (what is in flight toward it stays under half the
// queue): it is slowed down, not cut off. Nothing is
// dropped, and other clients are not held up. The lock is released
// between tries, so a transfer or a close can happen meanwhile; the frame
// then goes to whichever target is current when it is taken, still in
// order.
func (c *conn) frameIn(msg *gws.Message) {
	defer msg.Close()
	c.lastRead.Store(time.Now().UnixNano())
	c.rl.opts.Metrics.FrameIn(msg.Data.Len())
	typ, data := typeText, value.String(string(msg.Bytes()))
	if msg.Opcode == gws.OpcodeBinary {
		typ, data = typeBinary, value.Bytes(msg.Bytes())
	}
	wait, paused := 20*time.Microsecond, ""
	for {
		c.mu.Lock()
		if c.ended {
			c.mu.Unlock()
			return
		}
		cause := ""
		if c.out.backedUp(c.rl.node.MailboxLen(c.pid)) {
			cause = PauseOutboundQueue
		} else {
			// The fields in key order: value.Map then has nothing to sort.
			payload := value.Map(
				value.Field{Key: "client_pid", Value: c.pidVal},
				value.Field{Key: "data", Value: data},
				value.Field{Key: "metadata", Value: c.metadata},
				value.Field{Key: "type", Value: typ},
			)
			err := c.rl.node.TrySend(c.pid, c.target, c.topic, payload, c.out.max/2+1)
			if !errors.Is(err, process.ErrMailboxFull) {
				if err == nil {
					c.count++
				}
				c.mu.Unlock()
				if err != nil {
					c.rl.log.Warn("cannot relay a frame to the target", "client", c.pid.String(), "error", err.Error())
				}
				return
			}
			cause = PauseTargetMailbox
		}
		c.mu.Unlock()
		if cause != paused {
			c.rl.opts.Metrics.Paused(cause)
			paused = cause
		}
		time.Sleep(wait) // backpressure: wait for room
		wait = min(2*wait, 10*time.Millisecond)
	}
}

// HandleMessage handles a message to the client PID.
func (c *conn) HandleMessage(p *process.Process, m process.Message) error {
	var err error
	switch m.Topic {
	case topicEnd:
		c.exit(p)
		return nil
	case TopicSend:
		var f frame
		if f, err = parseSend(m.Payload); err == nil {
			c.enqueue(f)
		}
	case TopicClose:
		code, reason, fixed, perr := parseClose(m.Payload)
		if err = perr; err == nil {
			if fixed {
				c.rl.log.Warn("ws.close: that close code may not be sent; sending 1000", "client", p.PID().String(), "from", m.From.String(), "payload", m.Payload.String())
			}
			c.finish(ending{reason: ReasonServerClosed, code: code, leave: true, closeCode: code, closeText: reason})
			c.exit(p)
		}
	case TopicControl:
		var ctl control
		if ctl, err = parseControl(m.Payload); err == nil {
			c.control(p, ctl)
		}
	default:
		if strings.HasPrefix(m.Topic, "@") {
			return nil
		}
		var f frame
		if f, err = topicFrame(m.Topic, m.Payload); err == nil {
			c.enqueue(f)
		}
	}
	if err != nil {
		c.rl.log.Warn("message to a websocket client ignored", "client", p.PID().String(), "from", m.From.String(), "error", err.Error())
	}
	return nil
}

// HandleEvent handles the target's EXIT and a CANCEL.
func (c *conn) HandleEvent(p *process.Process, e process.Event) error {
	switch e.Kind {
	case process.EventExit:
		c.mu.Lock()
		ours := e.From == c.target
		if ours {
			c.targetGone = true
		}
		c.mu.Unlock()
		if !ours {
			return nil
		}
		// The process runtime hands over the target's EXIT only after
		// every message the target sent before it ended, so a goodbye
		// frame or a ws.close with its own code has been handled already.
		if e.Result.Err == nil {
			c.finish(ending{reason: ReasonTargetExited, closeCode: 1000, closeText: "target exited"})
		} else if errors.Is(e.Result.Err, process.ErrNoConnection) { // the target's node was lost (cluster)
			c.finish(ending{reason: ReasonTargetFailed, code: 1011, closeCode: 1011, closeText: "target node lost", detail: e.Result.Err.Error()})
		} else {
			c.finish(ending{reason: ReasonTargetFailed, code: 1011, closeCode: 1011, closeText: "target failed", detail: e.Result.Err.Error()})
		}
		c.exit(p)
	case process.EventCancel:
		reason := ReasonServerClosed
		if e.Reason == "shutdown" {
			reason = ReasonShutdown
		}
		c.finish(ending{reason: reason, code: 1001, leave: true, closeCode: 1001, closeText: "server shutting down"})
		c.exit(p)
	}
	return nil
}

// Terminate runs when the process has ended, however it ended. A process
// ended from outside (terminated, or a linked process failed) closes its
// socket with 1011.
func (c *conn) Terminate(p *process.Process, r process.Result) {
	detail := "terminated"
	if r.Err != nil {
		detail = r.Err.Error()
	}
	c.finish(ending{reason: ReasonError, code: 1011, leave: true, closeCode: 1011, closeText: "connection process ended", detail: detail})
}

// exit ends the process with the connection's result.
func (c *conn) exit(p *process.Process) {
	c.mu.Lock()
	e := c.end
	c.mu.Unlock()
	p.Exit(e.result())
}

// finish ends the connection once: it stops the timers, sends ws.leave
// when it should, and closes the socket. It reports whether this call
// ended it.
func (c *conn) finish(e ending) bool {
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return false
	}
	c.ended, c.end = true, e
	c.rl.opts.Metrics.Closed(e.reason) // before ws.leave: whoever sees it sees the count
	if c.beatTimer != nil {
		c.beatTimer.Stop()
	}
	if c.pingTimer != nil {
		c.pingTimer.Stop()
	}
	if e.leave && !c.targetGone {
		var extra []value.Field
		extra = append(extra, value.Field{Key: "reason", Value: value.String(e.reason)})
		if e.code != 0 {
			extra = append(extra, value.Field{Key: "code", Value: value.Int(int64(e.code))})
		}
		c.sendLocked(TopicLeave, c.fields(extra...))
	}
	c.mu.Unlock()
	c.rl.log.Debug("websocket connection ended", "client", c.pid.String(), "reason", e.reason, "code", e.code, "detail", e.detail)
	switch {
	case e.hard:
		c.out.close()
		_ = c.ws.NetConn().Close()
	case e.closeCode != 0:
		c.enqueueClose(e.closeCode, e.closeText)
	default:
		c.out.close()
	}
	return true
}

// endFromOutside finishes the connection from a goroutine other than the
// process's and lets the process exit.
func (c *conn) endFromOutside(e ending) {
	if c.finish(e) {
		_ = c.rl.node.SendSystem(c.pid, c.pid, topicEnd, value.Nil())
	}
}

// control applies a ws.control: transfer and/or reconfigure.
func (c *conn) control(p *process.Process, ctl control) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return
	}
	if ctl.target != nil && *ctl.target != c.target {
		old := c.target
		c.sendLocked(TopicLeave, c.fields(value.Field{Key: "reason", Value: value.String(ReasonTransferred)}))
		_ = p.Unmonitor(old)
		c.target, c.targetGone = *ctl.target, false
		if ctl.topic != nil {
			c.topic = *ctl.topic
		}
		if ctl.metadata != nil {
			c.metadata = *ctl.metadata
		}
		c.sendLocked(TopicJoin, c.fields())
		// A dead target gives EXIT noproc at once: the connection closes
		// as if the target had failed.
		_ = p.Monitor(c.target)
	} else {
		if ctl.topic != nil {
			c.topic = *ctl.topic
		}
		if ctl.metadata != nil {
			c.metadata = *ctl.metadata
		}
	}
	if ctl.heartbeat != nil {
		c.heartbeat = *ctl.heartbeat
		if c.beatTimer != nil {
			c.beatTimer.Stop()
			c.beatTimer = nil
		}
		c.startBeatLocked()
	}
}

func (c *conn) startBeatLocked() {
	if c.heartbeat > 0 {
		c.beatTimer = time.AfterFunc(c.heartbeat, c.beat)
	}
}

// beat sends ws.heartbeat and sets the next one.
func (c *conn) beat() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended || c.heartbeat == 0 {
		return
	}
	uptime := time.Since(c.started).Truncate(time.Second)
	c.sendLocked(TopicBeat, c.fields(
		value.Field{Key: "uptime", Value: value.String(uptime.String())},
		value.Field{Key: "message_count", Value: value.Int(c.count)},
	))
	c.beatTimer = time.AfterFunc(c.heartbeat, c.beat)
}

// pingTick pings a client that has been silent for PingInterval and closes
// one that stayed silent for PongTimeout after the ping.
func (c *conn) pingTick() {
	o := c.rl.opts
	c.mu.Lock()
	if c.ended {
		c.mu.Unlock()
		return
	}
	now := time.Now()
	last := time.Unix(0, c.lastRead.Load())
	if !c.pingSent.IsZero() && !last.After(c.pingSent) {
		c.mu.Unlock()
		c.endFromOutside(ending{reason: ReasonTimeout, leave: true, hard: true, detail: "no answer to a ping within " + o.PongTimeout.String()})
		return
	}
	if idle := now.Sub(last); idle < o.PingInterval {
		c.pingSent = time.Time{}
		c.pingTimer = time.AfterFunc(o.PingInterval-idle, c.pingTick)
		c.mu.Unlock()
		return
	}
	c.pingSent = now
	c.pingTimer = time.AfterFunc(o.PongTimeout, c.pingTick)
	c.mu.Unlock()
	c.enqueue(frame{op: gws.OpcodePing})
}

// Socket events, on the reader goroutine.

type events struct{}

func (events) OnOpen(*gws.Conn) {}

func (events) OnMessage(socket *gws.Conn, msg *gws.Message) {
	if c := connOf(socket); c != nil {
		c.frameIn(msg)
	} else {
		msg.Close()
	}
}

func (events) OnPing(socket *gws.Conn, payload []byte) {
	if c := connOf(socket); c != nil {
		c.lastRead.Store(time.Now().UnixNano())
		c.enqueue(frame{op: gws.OpcodePong, data: append([]byte(nil), payload...)})
	}
}

func (events) OnPong(socket *gws.Conn, _ []byte) {
	if c := connOf(socket); c != nil {
		c.lastRead.Store(time.Now().UnixNano())
	}
}

func (events) OnClose(socket *gws.Conn, err error) {
	c := connOf(socket)
	if c == nil {
		return
	}
	reason, code, detail := classifyClose(err)
	c.endFromOutside(ending{reason: reason, code: code, leave: true, detail: detail})
	_ = socket.NetConn().Close()
}

// classifyClose turns the error that ended a read loop into a ws.leave
// reason and code.
func classifyClose(err error) (reason string, code int, detail string) {
	var ce *gws.CloseError
	var coded interface{ Uint16() uint16 }
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		if ce.Code == 0 {
			return ReasonClientClosed, 1005, ""
		}
		return ReasonClientClosed, int(ce.Code), string(ce.Reason)
	case errors.As(err, &coded):
		return ReasonError, int(coded.Uint16()), err.Error()
	case errors.Is(err, gws.ErrTextEncoding):
		return ReasonError, 1007, "invalid UTF-8 in a text frame"
	case strings.Contains(err.Error(), "opcode"):
		return ReasonError, 1002, err.Error()
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, os.ErrDeadlineExceeded):
		return ReasonTimeout, 1006, err.Error()
	}
	// The peer went away without a close frame (or the socket was closed
	// under the reader).
	return ReasonClientClosed, 1006, err.Error()
}
