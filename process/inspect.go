package process

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wsrelay/wsrelay/internal/logtext"

	"github.com/wsrelay/wsrelay/pid"
)

// ProcessInfo is what an observer sees of one local process at one
// moment (Node.Processes, Node.Inspect). Reading it takes the process's
// lock briefly; it never waits on the process itself.
type ProcessInfo struct {
	PID          pid.PID
	Host         string
	Entry        string    // what it runs (SpawnOptions.Entry), if set
	Names        []string  // names registered for it on this node
	Reactive     bool      // a Handler run on delivery (SpawnReactive), not a goroutine of its own
	Scheduled    bool      // run by a scheduler of its caller's (SpawnScheduled): a Lua process
	Started      time.Time // when it was spawned
	MailboxLen   int       // messages waiting in its mailbox
	MailboxBytes int       // their bytes (HostOptions.MailboxBytes counts these)
	Links        int       // processes linked to it
	Monitors     int       // processes it monitors
	Watchers     int       // processes that monitor it
	MessagesIn   uint64    // messages its mailbox took
	MessagesOut  uint64    // messages it sent (to processes here and on other nodes)
}

// Processes calls yield with every live local process, in no particular
// order, until yield returns false. A process spawned or ended meanwhile
// may or may not be seen. It holds one shard of the process table at a
// time, and only to copy the shard's processes out.
func (n *Node) Processes(yield func(ProcessInfo) bool) {
	var batch []*Process
	for i := range n.procs.shards {
		s := &n.procs.shards[i]
		s.mu.RLock()
		batch = batch[:0]
		for _, p := range s.m {
			batch = append(batch, p)
		}
		s.mu.RUnlock()
		for _, p := range batch {
			info, ok := p.inspect()
			if ok && !yield(info) {
				return
			}
		}
	}
}

// Inspect returns what an observer sees of the local process p, or false
// when there is no such live process.
func (n *Node) Inspect(p pid.PID) (ProcessInfo, bool) {
	proc := n.lookup(p)
	if proc == nil {
		return ProcessInfo{}, false
	}
	return proc.inspect()
}

func (p *Process) inspect() (ProcessInfo, bool) {
	info := ProcessInfo{PID: p.pid, Host: p.host.name, Started: time.Unix(0, p.born),
		MailboxLen: p.inbox.len(), MailboxBytes: p.inbox.byteLen(), MessagesIn: p.msgsIn.Load(), MessagesOut: p.msgsOut.Load()}
	if p.entry != nil {
		info.Entry = *p.entry
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.dead {
		return ProcessInfo{}, false
	}
	info.Reactive = p.handler != nil
	info.Scheduled = p.ctx != nil && p.ctx.notify != nil
	info.Names = slices.Clone(p.names)
	info.Links = p.rel.m[relLinks].len()
	info.Monitors = p.rel.m[relMonitoring].len()
	info.Watchers = p.rel.m[relWatchers].len()
	return info, true
}

// LocalNames returns the names registered on this node and the process
// each names, sorted by name.
func (n *Node) LocalNames() []NameInfo {
	n.namesMu.Lock()
	out := make([]NameInfo, 0, len(n.names))
	for name, e := range n.names {
		if !e.holder.IsZero() {
			out = append(out, NameInfo{Name: name, PID: e.holder})
		}
	}
	n.namesMu.Unlock()
	slices.SortFunc(out, func(a, b NameInfo) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// NameInfo is a registered name and its process.
type NameInfo struct {
	Name string
	PID  pid.PID
}

// MaxRecentEnds is how many abnormal ends a node keeps for observers
// (Node.RecentEnds), and MaxRecentEndsPerEntry how many of them one
// entry may hold, so that a crash loop or a wave of relay clients timing
// out does not push every other end out. Each error text is cut to 8 KiB,
// so they hold at most about 512 KiB.
const (
	MaxRecentEnds         = 64
	MaxRecentEndsPerEntry = 8
)

// EndInfo is a process that ended abnormally: with an error other than
// its termination (ErrTerminated) or ErrStop.
type EndInfo struct {
	PID   pid.PID
	Entry string
	Time  time.Time
	Error string // the error (for a Lua process, its message and traceback), cut to 8 KiB
}

// recentEnds holds the last abnormal ends, oldest first.
type recentEnds struct {
	mu   sync.Mutex
	ends []EndInfo
}

func (e *recentEnds) add(p *Process, r Result) {
	if r.Err == nil || errors.Is(r.Err, ErrTerminated) && !errors.Is(r.Err, ErrLinkDown) || errors.Is(r.Err, ErrStop) {
		return
	}
	info := EndInfo{PID: p.pid, Time: time.Now(), Error: logtext.Cut(r.Err.Error(), maxReportText)}
	if p.entry != nil {
		info.Entry = *p.entry
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	drop, same := -1, 0
	for i, x := range e.ends {
		if x.Entry == info.Entry {
			if same == 0 {
				drop = i // the oldest of its entry
			}
			same++
		}
	}
	switch {
	case same >= MaxRecentEndsPerEntry:
	case len(e.ends) >= MaxRecentEnds:
		drop = 0
	default:
		drop = -1
	}
	if drop >= 0 {
		e.ends = append(e.ends[:drop], e.ends[drop+1:]...)
	}
	e.ends = append(e.ends, info)
}

// RecentEnds returns the node's last abnormal ends (at most
// MaxRecentEnds, at most MaxRecentEndsPerEntry of one entry), the latest
// first.
func (n *Node) RecentEnds() []EndInfo {
	e := &n.ends
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]EndInfo, len(e.ends))
	for i, x := range e.ends {
		out[len(out)-1-i] = x
	}
	return out
}
