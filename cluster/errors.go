package cluster

import (
	"errors"

	"github.com/wsrelay/wsrelay/process"
)

var (
	// ErrNodeDown: the destination node is not a live member of the
	// cluster (never seen, stopped heartbeating, or left). It is
	// process.ErrNodeDown, so code built on process alone (the relay)
	// tells a lost node from other failures.
	ErrNodeDown = process.ErrNodeDown
	// ErrBacklog: too many bytes wait to be sent to the destination node
	// (Options.MaxPending); the signal was dropped. It is
	// process.ErrBacklog: a sender may wait on process.Node.MailboxRoom
	// (Transport.Room) and try again.
	ErrBacklog = process.ErrBacklog
	// ErrTooLarge: one signal is larger than MaxSignal, encoded. (A
	// signal larger than the NATS server's max payload is not: it
	// travels in parts.)
	ErrTooLarge = errors.New("signal too large to cross between nodes")
	// ErrNotStarted: Deliver before Start, or after Close.
	ErrNotStarted = errors.New("cluster transport not running")
	// ErrBadName: a cluster or node name cannot be a NATS subject token.
	ErrBadName = errors.New("name cannot be used in a NATS subject")
)
