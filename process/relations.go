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
// other process's PID. Its sets are made on first use, so a process with no
// relations pays for none. It is not safe for concurrent use: the owning
// process's mutex guards it.
type relations struct {
	m [relKinds]pidSet
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
func (r *relations) add(k relKind, p pid.PID) bool { return r.m[k].add(p) }

// remove deletes p; it reports whether p was there.
func (r *relations) remove(k relKind, p pid.PID) bool {
	if !r.m[k].remove(p) {
		return false
	}
	if k == relWatchers && r.notices != nil {
		r.dropNotice(p)
	}
	return true
}

func (r *relations) has(k relKind, p pid.PID) bool { return r.m[k].has(p) }

func (r *relations) count(k relKind) int { return r.m[k].len() }

// take empties the table and returns what it held, by kind.
func (r *relations) take() [relKinds][]pid.PID {
	var out [relKinds][]pid.PID
	for k := range relKinds {
		out[k] = r.m[k].appendTo(nil)
		r.m[k] = pidSet{}
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
		for _, p := range r.m[k].appendTo(nil) {
			if p.Node != node {
				continue
			}
			out[k] = append(out[k], p)
			r.m[k].remove(p)
			if n, ok := r.notices[p]; ok && k == relWatchers {
				notes = append(notes, noticeFrom{from: p, notice: n})
				r.dropNotice(p)
			}
		}
	}
	return out, notes
}

// pidSet is a set of PIDs: a slice while it holds few, a map beyond. Most
// processes have one or two relations of a kind (a relay connection
// monitors its target), and a map made for one entry costs ten times the
// entry.
type pidSet struct {
	few  []pid.PID
	many map[pid.PID]struct{}
}

// fewPIDs is how many PIDs a set keeps in its slice.
const fewPIDs = 8

// add adds p; it reports false when p was there already.
func (s *pidSet) add(p pid.PID) bool {
	if s.has(p) {
		return false
	}
	switch {
	case s.many != nil:
		s.many[p] = struct{}{}
	case len(s.few) < fewPIDs:
		s.few = append(s.few, p)
	default:
		s.many = make(map[pid.PID]struct{}, 2*fewPIDs)
		for _, q := range s.few {
			s.many[q] = struct{}{}
		}
		s.many[p] = struct{}{}
		s.few = nil
	}
	return true
}

// remove removes p; it reports whether p was there. An emptied set
// holds no memory.
func (s *pidSet) remove(p pid.PID) bool {
	if s.many != nil {
		if _, ok := s.many[p]; !ok {
			return false
		}
		delete(s.many, p)
		if len(s.many) == 0 {
			s.many = nil
		}
		return true
	}
	for i, q := range s.few {
		if q == p {
			last := len(s.few) - 1
			s.few[i] = s.few[last]
			s.few[last] = pid.PID{}
			s.few = s.few[:last]
			if last == 0 {
				s.few = nil
			}
			return true
		}
	}
	return false
}

func (s *pidSet) has(p pid.PID) bool {
	if s.many != nil {
		_, ok := s.many[p]
		return ok
	}
	for _, q := range s.few {
		if q == p {
			return true
		}
	}
	return false
}

func (s *pidSet) len() int {
	if s.many != nil {
		return len(s.many)
	}
	return len(s.few)
}

// appendTo appends the set's PIDs to out, in no particular order.
func (s *pidSet) appendTo(out []pid.PID) []pid.PID {
	if s.many != nil {
		for p := range s.many {
			out = append(out, p)
		}
		return out
	}
	return append(out, s.few...)
}
