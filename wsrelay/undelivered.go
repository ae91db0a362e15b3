package wsrelay

import (
	"errors"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
)

// What the relay does when a message to a client's target cannot be
// delivered.
//
// A full mailbox, or a full queue toward the target's node, is waited
// out: the client is held back, nothing is lost (frameIn, and the
// owed queue: owed.go). Every other failure means that what the client sends
// can no longer reach its target, so the client is closed at once, at
// the failed send, with the code a target gone that way gets when its
// EXIT arrives first:
//
//   - its node is down or unknown (process.ErrNodeDown, which the
//     cluster's transport returns; process.ErrNoConnection), or no
//     transport reaches it (process.ErrNoTransport): 1011 "target node
//     lost";
//   - the target is not alive (process.ErrNoProc): 1011 "target failed";
//   - anything else: 1011 "cannot relay to the target".
//
// A send to a dead process of a live node is not an error (the message is
// a dead letter): the connection's monitor of its target, placed on
// every path (open, before the join; transfer, right after it), answers
// EXIT noproc and closes it. So a connection is never left open with a target nothing can reach,
// and a frame it accepted is either delivered or its client is closed.

// topicMonitor names, in the log and for undeliverable, a monitor of the
// target that could not be placed (it is not a message topic).
const topicMonitor = "(monitor)"

// The close reasons of a connection whose target is gone.
const (
	closeTargetFailed = "target failed"
	closeNodeLost     = "target node lost"
	closeUnrelayable  = "cannot relay to the target"
)

// undeliverable returns the ending of a connection whose message on topic
// could not be delivered to its target (err), and false when err is a
// full mailbox or queue (only a shutdown out of time gives one up: the
// shutdown closes the client).
func undeliverable(topic string, err error) (ending, bool) {
	if errors.Is(err, process.ErrBacklog) || errors.Is(err, process.ErrMailboxFull) {
		return ending{}, false
	}
	e := ending{reason: ReasonTargetFailed, code: 1011, closeCode: 1011, gone: true, detail: err.Error()}
	switch {
	case errors.Is(err, process.ErrNodeDown), errors.Is(err, process.ErrNoConnection), errors.Is(err, process.ErrNoTransport):
		e.closeText = closeNodeLost
	case errors.Is(err, process.ErrNoProc):
		e.closeText = closeTargetFailed
	default:
		// The target may be alive: it is told with ws.leave, unless what
		// failed was its ws.join (no leave without a join) or the leave.
		e.reason, e.closeText, e.gone = ReasonError, closeUnrelayable, false
		e.leave = topic != TopicJoin && topic != TopicLeave
	}
	return e, true
}

// lost ends the connection because its message on topic could not be
// delivered to target (see undeliverable), and logs it (rate-limited).
// Run by the owner.
func (c *conn) lost(topic string, target pid.PID, err error) {
	e, ok := undeliverable(topic, err)
	if !ok {
		c.rl.clientLog.Warn("cannot send to the relay target", "client", c.pid.String(), "target", target.String(), "topic", topic, "error", err.Error())
		return
	}
	if c.state >= stateClosing {
		return
	}
	// Logged before the close goes out: whoever sees the close finds why.
	c.rl.clientLog.Warn("cannot send to the relay target; closing the client", "client", c.pid.String(), "target", target.String(), "topic", topic, "close", e.closeText, "error", err.Error())
	c.endWith(e)
}
