package cluster

import (
	"slices"
	"strings"
	"time"
)

// NodeState is what this node knows of another node of the cluster.
type NodeState struct {
	Name     string
	Up       bool      // its heartbeats come, and it is admitted
	LastSeen time.Time // its last heartbeat
}

// NodeStates returns the other nodes this node knows, up or down, sorted
// by name. A node lost long ago may have left the table.
func (t *Transport) NodeStates() []NodeState {
	t.mu.RLock()
	out := make([]NodeState, 0, len(t.peers))
	for name, p := range t.peers {
		out = append(out, NodeState{Name: name, Up: p.up, LastSeen: p.lastSeen})
	}
	t.mu.RUnlock()
	slices.SortFunc(out, func(a, b NodeState) int { return strings.Compare(a.Name, b.Name) })
	return out
}
