package process

import (
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

// Message is what one process sends another.
type Message struct {
	Topic   string      // never empty; topics starting with '@' are the runtime's
	From    pid.PID     // the sender; zero when sent from outside any process
	Payload value.Value // immutable
}

// messageSize is what a message in a mailbox costs beyond its topic and
// payload (the Message struct in the mailbox's ring, about).
const messageSize = 64

// size is what a message counts against its mailbox's MailboxBytes.
func (m *Message) size() int { return messageSize + len(m.Topic) + m.Payload.Size() }

// EventKind says what an Event reports.
type EventKind uint8

// The kinds of event.
const (
	// EventExit: a monitored process ended (Event.Result says how).
	EventExit EventKind = iota + 1
	// EventLinkDown: a linked process ended abnormally and this process
	// traps links.
	EventLinkDown
	// EventCancel: this process was asked to end (Event.Reason says why);
	// it is terminated if it has not ended within its host's grace period.
	EventCancel
)

func (k EventKind) String() string {
	switch k {
	case EventExit:
		return "EXIT"
	case EventLinkDown:
		return "LINK_DOWN"
	case EventCancel:
		return "CANCEL"
	}
	return "UNKNOWN"
}

// Event is a notice from the runtime, delivered separately from messages.
type Event struct {
	Kind EventKind
	// A gated event may be received once the inbox has popped gate
	// messages (the count wraps): see order.go.
	gated  bool
	gate   uint32
	From   pid.PID // the process that ended (EXIT, LINK_DOWN) or asked to cancel
	Result Result  // EXIT and LINK_DOWN
	Reason string  // CANCEL
}

// Result is how a process ended: Err is nil for a normal exit.
type Result struct {
	Value value.Value
	Err   error
}
