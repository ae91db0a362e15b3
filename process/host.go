package process

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/wsrelay/wsrelay/pid"
)

// Defaults of HostOptions.
const (
	DefaultMailboxSize  = 65536
	DefaultMailboxBytes = 64 << 20
	DefaultCancelGrace  = 5 * time.Second
)

// HostOptions configure a process host. The zero HostOptions are valid.
type HostOptions struct {
	// MailboxSize bounds each process's mailbox; a message sent to a full
	// mailbox is dropped, counted and logged, and Send returns
	// ErrMailboxFull. Default DefaultMailboxSize (65536).
	MailboxSize int
	// MailboxBytes bounds the bytes each process's mailbox holds (the
	// value.Value Size of the payloads, plus the topics and a fixed cost
	// per message), as MailboxSize bounds its messages: a message that
	// would pass it is dropped the same way, unless the mailbox holds half
	// of it or less (so a message of any size gets in once the receiver
	// has caught up that far). Default DefaultMailboxBytes (64 MiB).
	MailboxBytes int
	// CancelGrace is how long a cancelled process may take to end before it
	// is terminated. Default DefaultCancelGrace (5s).
	CancelGrace time.Duration
}

// Host is a named place where processes run, such as "app:processes".
type Host struct {
	name         string
	mailboxSize  int
	mailboxBytes int
	cancelGrace  time.Duration

	spawned atomic.Uint64
	ended   atomic.Uint64
	dropped atomic.Uint64
}

// HostStats are the counters of one process host.
type HostStats struct {
	Live    int    // processes running now
	Spawned uint64 // processes spawned since the node started
	Dropped uint64 // messages dropped because a mailbox was full
}

// AddHost adds a process host. Adding a name twice is an error.
func (n *Node) AddHost(name string, opts *HostOptions) (*Host, error) {
	if err := pid.ValidHostName(name); err != nil {
		return nil, fmt.Errorf("process: add host: %w", err)
	}
	var o HostOptions
	if opts != nil {
		o = *opts
	}
	if o.MailboxSize < 0 || o.MailboxBytes < 0 || o.CancelGrace < 0 {
		return nil, fmt.Errorf("process: add host %q: mailbox size, mailbox bytes and cancel grace must not be negative", name)
	}
	if o.MailboxSize == 0 {
		o.MailboxSize = DefaultMailboxSize
	}
	if o.MailboxBytes == 0 {
		o.MailboxBytes = DefaultMailboxBytes
	}
	if o.CancelGrace == 0 {
		o.CancelGrace = DefaultCancelGrace
	}
	h := &Host{name: name, mailboxSize: o.MailboxSize, mailboxBytes: o.MailboxBytes, cancelGrace: o.CancelGrace}
	n.hostsMu.Lock()
	defer n.hostsMu.Unlock()
	if _, ok := n.hosts[name]; ok {
		return nil, fmt.Errorf("process: add host %q: %w", name, ErrHostExists)
	}
	n.hosts[name] = h
	return h, nil
}

// Host returns the named process host.
func (n *Node) Host(name string) (*Host, bool) {
	n.hostsMu.RLock()
	h, ok := n.hosts[name]
	n.hostsMu.RUnlock()
	return h, ok
}

// Hosts returns the node's process hosts.
func (n *Node) Hosts() []*Host {
	n.hostsMu.RLock()
	defer n.hostsMu.RUnlock()
	out := make([]*Host, 0, len(n.hosts))
	for _, h := range n.hosts {
		out = append(out, h)
	}
	return out
}

// Name returns the host's name.
func (h *Host) Name() string { return h.name }

// Stats returns the host's counters.
func (h *Host) Stats() HostStats {
	e := h.ended.Load() // first: spawned only grows, so s >= e
	s := h.spawned.Load()
	return HostStats{Live: int(s - e), Spawned: s, Dropped: h.dropped.Load()}
}
