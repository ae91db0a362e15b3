package process

import "github.com/wsrelay/wsrelay/pid"

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
	return out
}

// takeNode removes and returns, by kind, every entry on the named node.
func (r *relations) takeNode(node string) [relKinds][]pid.PID {
	var out [relKinds][]pid.PID
	for k := range relKinds {
		for p := range r.m[k] {
			if p.Node == node {
				out[k] = append(out[k], p)
				delete(r.m[k], p)
			}
		}
		if len(r.m[k]) == 0 {
			r.m[k] = nil
		}
	}
	return out
}
