package process

import (
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/wsrelay/wsrelay/pid"
)

// Defaults of HostOptions.
const (
	DefaultMailboxSize  = 65536
	DefaultMailboxBytes = 64 << 20
	DefaultCancelGrace  = 5 * time.Second
	// DefaultMaxProcesses: an idle Lua process takes about 15 KB, so a
	// full host of idle ones about 1.5 GB.
	DefaultMaxProcesses = 100_000
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
	// MaxProcesses bounds the processes running on the host at once: a
	// spawn past it fails with an error matching ErrHostFull, so code
	// that spawns in a loop cannot fill the node's memory with processes.
	// Default DefaultMaxProcesses (100,000); negative: no bound.
	MaxProcesses int
}

// Host is a named place where processes run, such as "app:processes".
type Host struct {
	name         string
	mailboxSize  int
	mailboxBytes int
	cancelGrace  time.Duration
	maxProcs     int64 // bound of live; no bound when negative

	live    atomic.Int64 // processes spawned and not ended (a spawn reserves its place first)
	spawned atomic.Uint64
	ended   atomic.Uint64
	dropped atomic.Uint64
	taken   atomic.Uint64 // messages its processes' mailboxes took
	sent    atomic.Uint64 // messages its processes sent
}

// HostStats are the counters of one process host.
type HostStats struct {
	Live    int    // processes running now
	Spawned uint64 // processes spawned since the node started
	Dropped uint64 // messages dropped because a mailbox was full
	In      uint64 // messages its processes' mailboxes took
	Out     uint64 // messages its processes sent
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
	o.MaxProcesses = defaultBound(o.MaxProcesses, DefaultMaxProcesses)
	h := &Host{name: name, mailboxSize: o.MailboxSize, mailboxBytes: o.MailboxBytes, cancelGrace: o.CancelGrace, maxProcs: int64(o.MaxProcesses)}
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
	return HostStats{Live: int(s - e), Spawned: s, Dropped: h.dropped.Load(), In: h.taken.Load(), Out: h.sent.Load()}
}

// reserve takes a place for a new process, or fails when the host runs
// MaxProcesses already. Every place taken is given back by release, when
// the process ends (exit) or its spawn fails before it started.
func (h *Host) reserve() error {
	if h.live.Add(1) > h.maxProcs && h.maxProcs >= 0 {
		h.live.Add(-1)
		return &HostFullError{Host: h.name, Max: int(h.maxProcs)}
	}
	return nil
}

func (h *Host) release() { h.live.Add(-1) }

// HostFullError reports a spawn refused because its host runs Max
// processes already. errors.Is(err, ErrHostFull) is true.
type HostFullError struct {
	Host string
	Max  int
}

func (e *HostFullError) Error() string {
	return "process host " + e.Host + " runs " + strconv.Itoa(e.Max) + " processes already, its max_processes"
}

// Is makes errors.Is(err, ErrHostFull) true.
func (e *HostFullError) Is(target error) bool { return target == ErrHostFull }
