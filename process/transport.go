package process

import (
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

// Transport carries signals to the processes of other nodes. The cluster
// package implements it over NATS; a Node with none fails every remote
// operation with ErrNoTransport.
//
// Deliver must not block for long and must keep the order of signals from
// one sender to one receiver. It returns an error when the destination
// node cannot be reached: ErrNodeDown (wrapped or not) when that node is
// down or unknown, ErrBacklog when its queue is full (RoomTransport).
type Transport interface {
	Deliver(s Signal) error
}

// RoomTransport is a Transport that can refuse signals for a node whose
// queue is full (Deliver fails with ErrBacklog) and say when it has room
// again: Room returns a channel closed once the queue toward node is
// below its bound (at once when it is, or when node is unknown or down).
// Node.MailboxRoom uses it for processes of other nodes.
type RoomTransport interface {
	Transport
	Room(node string) <-chan struct{}
}

// SignalKind says what a Signal carries.
type SignalKind uint8

// The kinds of signal.
const (
	SigMessage   SignalKind = iota + 1 // a message (Topic, Payload)
	SigMonitor                         // From starts monitoring To (Topic, Payload: its notice, if any)
	SigDemonitor                       // From stops monitoring To
	SigExit                            // To's monitored process From ended (Result)
	SigLink                            // From links to To
	SigUnlink                          // From unlinks from To
	SigLinkExit                        // To's linked process From ended (Result)
	SigCancel                          // From cancels To (Reason)
	SigTerminate                       // To is terminated
	SigTaken                           // To's messages to From numbered up to Seq have left From's mailbox (receipt.go)
)

// Signal is one operation between processes of different nodes.
type Signal struct {
	Kind     SignalKind
	From, To pid.PID
	Topic    string
	Payload  value.Value
	Result   Result
	Reason   string
	// Seq, on a message, asks for a receipt: the sender's number for it
	// (0: none). On SigTaken it is the highest number taken.
	Seq uint64
}

func (n *Node) sendSignal(s Signal) error {
	if n.transport == nil {
		return &OpError{Op: "reach node", Arg: s.To.Node, Err: ErrNoTransport}
	}
	return n.transport.Deliver(s)
}

// HandleSignal applies a signal that a transport received for a process of
// this node. Signals for processes that have ended are answered the way the
// local operation would be (a monitor gets EXIT noproc, a link LINK_DOWN
// noproc) or dropped.
func (n *Node) HandleSignal(s Signal) {
	switch s.Kind {
	case SigMessage:
		n.spendNotice(s.From, s.To, s.Topic) // before the message: a node loss after it sends no second one
		if s.Seq != 0 {
			n.deliverWithReceipt(s)
			return
		}
		_ = n.send(s.From, s.To, s.Topic, s.Payload)
	case SigTaken:
		n.remoteTaken(s.To, s.From, s.Seq)
	case SigMonitor:
		if s.Topic != "" {
			n.addRemoteWatcherNotice(s.To, s.From, s.Topic, s.Payload)
		} else {
			n.addWatcher(s.To, s.From)
		}
	case SigDemonitor:
		n.dropWatcher(s.To, s.From)
	case SigExit:
		n.deliverExit(s.To, s.From, s.Result)
	case SigLink:
		if !n.addLink(s.To, s.From) {
			n.deliverLinkExit(s.From, s.To, Result{Err: ErrNoProc})
		}
	case SigUnlink:
		n.removeLink(s.To, s.From)
	case SigLinkExit:
		n.deliverLinkExit(s.To, s.From, s.Result)
	case SigCancel:
		_ = n.Cancel(s.From, s.To, s.Reason)
	case SigTerminate:
		_ = n.Terminate(s.To)
	}
}

// NodeDown is called by a transport when it has lost the named node: every
// local process monitoring a process there gets EXIT with ErrNoConnection,
// every process linked to one is told as if it had ended with
// ErrNoConnection, and watchers and links from that node are forgotten;
// each notice a watcher there left (Process.MonitorNotice) is delivered to
// the process it monitored, from that watcher, before anything else.
// Every receipt for a message sent there is complete.
func (n *Node) NodeDown(node string) {
	if node == n.name {
		return
	}
	n.receiptsNodeDown(node)
	n.procs.each(func(p *Process) {
		p.mu.Lock()
		if p.dead {
			p.mu.Unlock()
			return
		}
		gone, notes := p.rel.takeNode(node)
		trap := p.trapLinks
		p.mu.Unlock()
		for _, nt := range notes {
			_ = n.send(nt.from, p.pid, nt.topic, nt.payload)
		}
		lost := Result{Err: ErrNoConnection}
		for _, t := range gone[relMonitoring] {
			p.deliverEvent(Event{Kind: EventExit, From: t, Result: lost})
		}
		for _, l := range gone[relLinks] {
			if trap {
				p.deliverEvent(Event{Kind: EventLinkDown, From: l, Result: lost})
			} else {
				n.terminate(p, &LinkDownError{PID: l, Reason: ErrNoConnection})
				return
			}
		}
	})
}
