package cluster

import (
	"slices"
	"strings"

	"github.com/wsrelay/wsrelay/pid"
)

// NameHolder is a cluster-wide name and the process that holds it.
type NameHolder struct {
	Name string
	PID  pid.PID
}

// Held returns the cluster-wide names as this node's table holds them
// (the bucket as its watch has reported it, with the names carried over
// a lost bucket), sorted by name, at most max of them (max <= 0: all).
func (nm *Names) Held(max int) []NameHolder {
	nm.mu.RLock()
	out := make([]NameHolder, 0, len(nm.table))
	for name, e := range nm.table {
		if !e.pid.IsZero() {
			out = append(out, NameHolder{Name: name, PID: e.pid})
		}
	}
	nm.mu.RUnlock()
	slices.SortFunc(out, func(a, b NameHolder) int { return strings.Compare(a.Name, b.Name) })
	if max > 0 && len(out) > max {
		out = out[:max]
	}
	return out
}
