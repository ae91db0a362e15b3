package process

import (
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

// relKind names one of the three relations a process keeps.
type relKind uint8

const (
	relWatchers   relKind = iota // processes that monitor this one
	relMonitoring                // processes this one monitors
	relLinks                     // processes linked to this one
	relKinds
)

// relations is the table of a process's monitors and links, indexed by the
// other process's PID. Its maps are made on first use, so a process with no
// relations pays for none. It is not safe for concurrent use: the owning
// process's mutex guards it.
type relations struct {
	m [relKinds]map[pid.PID]struct{}
	// notices holds what watchers on other nodes left with this process
	// (Process.MonitorNotice), by watcher; an entry lives only as long
	// as its watcher is in m[relWatchers].
	notices map[pid.PID]notice
	// noticeBytes is what the notices count against
	// MaxNoticeBytesPerProcess (the sum of their sizes).
	noticeBytes int
}

// notice is a message a watcher leaves with the process it monitors on
// another node: that process receives it, from the watcher, if the
// watcher's node is lost while it watches (see Process.MonitorNotice).
type notice struct {
	topic   string
	payload value.Value
	size    int // noticeSize(topic, payload)
}

// noticeFrom is a notice with the watcher that left it.
type noticeFrom struct {
	from pid.PID
	notice
}

// setNotice records n for watcher w, which must be in the table. It
// reports false, and drops w's earlier notice, when n would take the
// process's notices past MaxNoticeBytesPerProcess.
func (r *relations) setNotice(w pid.PID, n notice) bool {
	if !r.has(relWatchers, w) {
		return true
	}
	r.dropNotice(w)
	if r.noticeBytes+n.size > MaxNoticeBytesPerProcess {
		return false
	}
	if r.notices == nil {
		r.notices = make(map[pid.PID]notice, 1)
	}
	r.notices[w] = n
	r.noticeBytes += n.size
	return true
}

// spendNotice drops w's notice when topic is its topic: the watcher sent
// that message itself, so the notice must not repeat it.
func (r *relations) spendNotice(w pid.PID, topic string) {
	if n, ok := r.notices[w]; ok && n.topic == topic {
		r.dropNotice(w)
	}
}

func (r *relations) dropNotice(w pid.PID) {
	if n, ok := r.notices[w]; ok {
		r.noticeBytes -= n.size
	}
	delete(r.notices, w)
	if len(r.notices) == 0 {
		r.notices = nil
	}
}

// add records p; it reports false when p was already there.
func (r *relations) add(k relKind, p pid.PID) bool {
	if r.m[k] == nil {
		r.m[k] = make(map[pid.PID]struct{}, 1)
	}
	if _, ok := r.m[k][p]; ok {
		return false
	}
	r.m[k][p] = struct{}{}
	return true
}

// remove deletes p; it reports whether p was there.
func (r *relations) remove(k relKind, p pid.PID) bool {
	if _, ok := r.m[k][p]; !ok {
		return false
	}
	delete(r.m[k], p)
	if len(r.m[k]) == 0 {
		r.m[k] = nil
	}
	if k == relWatchers && r.notices != nil {
		r.dropNotice(p)
	}
	return true
}

func (r *relations) has(k relKind, p pid.PID) bool {
	_, ok := r.m[k][p]
	return ok
}

func (r *relations) count(k relKind) int { return len(r.m[k]) }

// take empties the table and returns what it held, by kind.
func (r *relations) take() [relKinds][]pid.PID {
	var out [relKinds][]pid.PID
	for k := range relKinds {
		for p := range r.m[k] {
			out[k] = append(out[k], p)
		}
		r.m[k] = nil
	}
	r.notices, r.noticeBytes = nil, 0
	return out
}

// takeNode removes and returns, by kind, every entry on the named node,
// and the notices its watchers left.
func (r *relations) takeNode(node string) ([relKinds][]pid.PID, []noticeFrom) {
	var out [relKinds][]pid.PID
	var notes []noticeFrom
	for k := range relKinds {
		for p := range r.m[k] {
			if p.Node == node {
				out[k] = append(out[k], p)
				delete(r.m[k], p)
				if n, ok := r.notices[p]; ok && k == relWatchers {
					notes = append(notes, noticeFrom{from: p, notice: n})
					r.dropNotice(p)
				}
			}
		}
		if len(r.m[k]) == 0 {
			r.m[k] = nil
		}
	}
	return out, notes
}
