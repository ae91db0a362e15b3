// Package transport is the side of a process.Node that a cluster
// transport implements and calls: the signals that carry operations
// between processes of different nodes, the interfaces a transport
// implements (Transport, and RoomTransport, ReceiptTransport and Receiver
// for what more it can do), and Node, what the transport calls on the
// node it carries for. The cluster package implements one over NATS;
// code that only spawns, sends and monitors needs none of this.
//
// A transport is given to process.NewNode in process.Options.Transport. If
// it is a Receiver, NewNode calls its Attach with the node's Node before it
// returns: from then on the transport hands the node what it receives
// from other nodes (Node.HandleSignal) and tells it which nodes it lost
// (Node.NodeDown).
package transport

import (
	"time"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

// Transport carries signals to the processes of other nodes. A node with
// none fails every remote operation with process.ErrNoTransport.
//
// Deliver must not block for long and must keep the order of signals from
// one sender to one receiver. It returns an error when the destination
// node cannot be reached: process.ErrNodeDown (wrapped or not) when that
// node is down or unknown, process.ErrBacklog when its queue is full
// (RoomTransport).
type Transport interface {
	Deliver(s Signal) error
}

// Receiver is a Transport that also brings the node the signals other
// nodes send to its processes. process.NewNode calls Attach once, with
// the node's side, before it returns the node.
type Receiver interface {
	Transport
	Attach(n Node)
}

// RoomTransport is a Transport that can refuse signals for a node whose
// queue is full (Deliver fails with process.ErrBacklog) and say when it
// has room again: Room returns a channel closed once the queue toward
// node is below its bound (at once when it is, or when node is unknown or
// down). process.Node.MailboxRoom uses it for processes of other nodes.
type RoomTransport interface {
	Transport
	Room(node string) <-chan struct{}
}

// ReceiptTransport is a Transport whose other end answers messages sent
// with a receipt with SigTaken, and which sends the answers of its own
// node (Node.TakenReady, Node.DrainTaken). The node sends a message that
// asks for a receipt (SigMessage with Seq set) through DeliverWithReceipt,
// which is Deliver with that promise. Over a Transport that is not one, a
// receipt for a message to another node is complete at once.
type ReceiptTransport interface {
	Transport
	DeliverWithReceipt(s Signal) error
}

// Node is what a transport calls on the node it carries for: process.Node
// hands one to Receiver.Attach.
type Node interface {
	// Name is the node's name, the node part of its PIDs.
	Name() string
	// Boot is when the node was made.
	Boot() time.Time
	// HandleSignal applies a signal that the transport received for a
	// process of this node. Signals for processes that have ended are
	// answered the way the local operation would be (a monitor gets EXIT
	// noproc, a link LINK_DOWN noproc) or dropped.
	HandleSignal(s Signal)
	// NodeDown tells the node that the transport lost the named node:
	// every local process monitoring a process there gets EXIT with
	// process.ErrNoConnection, every process linked to one is told as if
	// it had ended with it, and watchers and links from that node are
	// forgotten; each notice a watcher there left
	// (process.Process.MonitorNotice) is delivered to the process it
	// monitored, from that watcher, before anything else. Every receipt
	// for a message sent there is complete.
	NodeDown(node string)
	// ReceiptsLost completes every receipt for a message sent to a
	// process of node: the transport calls it when it may have lost such
	// messages or their answers while node stays up (a batch NATS
	// dropped), so that no sender waits for an answer that will not come.
	// Messages still waiting in their receivers' mailboxes then count as
	// taken.
	ReceiptsLost(node string)
	// TakenReady returns a channel that receives a value when messages
	// sent to this node's processes with a receipt have left their
	// mailboxes: the transport then calls DrainTaken.
	TakenReady() <-chan struct{}
	// DrainTaken hands each answer waiting to be sent to send, as a
	// SigTaken signal (From the receiver, To the remote sender, Seq the
	// highest number taken), one per pair however many messages it
	// covers, and forgets it.
	DrainTaken(send func(Signal))
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
	SigTaken                           // To's messages to From numbered up to Seq have left From's mailbox
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

// Result is how a process ended, as a signal carries it: process.Result,
// which converts to and from it.
type Result struct {
	Value value.Value
	Err   error
}
