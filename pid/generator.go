package pid

import (
	"sync/atomic"
	"time"
)

// Generator hands out process ids for one incarnation of a node.
//
// Ids are the node's boot time in nanoseconds since the Unix epoch plus a
// counter. Within one incarnation they strictly increase, so none is reused.
// A restarted node boots later, and no node can hand out more than one id per
// nanosecond of its life, so the new incarnation's first id is greater than
// every id the previous one issued. The one assumption is a wall clock that
// is not stepped back by more than the node's downtime between incarnations.
type Generator struct {
	base uint64
	n    atomic.Uint64
}

// NewGenerator returns a generator for an incarnation that booted at boot.
func NewGenerator(boot time.Time) *Generator {
	ns := boot.UnixNano()
	if ns < 0 {
		ns = 0
	}
	return &Generator{base: uint64(ns)}
}

// Next returns a new id, never 0. It is safe for concurrent use.
func (g *Generator) Next() uint64 { return g.base + g.n.Add(1) }
