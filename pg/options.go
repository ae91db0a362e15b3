package pg

import (
	"fmt"
	"log/slog"

	"github.com/wsrelay/wsrelay/process"
)

// Defaults and ceilings of ScopeOptions. The ceilings keep a node's whole
// state of a scope within what one cluster signal carries (see
// encodeSync): MaxMembers members of at most 2 × 255 + 20 bytes each,
// under 64 MiB.
const (
	DefaultMaxGroups          = 100_000
	DefaultMaxMembersPerGroup = 100_000
	DefaultMaxMembers         = 100_000
	DefaultMaxSubscriptions   = 10_000
	DefaultMonitorBuffer      = 1024
	DefaultMonitorBufferBytes = 1 << 20

	CeilingMaxGroups          = 1_000_000
	CeilingMaxMembersPerGroup = 1_000_000
	CeilingMaxMembers         = 100_000
	CeilingMaxSubscriptions   = 1_000_000
	CeilingMonitorBuffer      = 1 << 20
	CeilingMonitorBufferBytes = 1 << 30
)

// ScopeOptions bound a scope. A zero field takes its default; a field past
// its ceiling is an error (see Check).
type ScopeOptions struct {
	// MaxGroups bounds the groups with members, on all nodes together:
	// a join that would make one more fails with ErrLimit. Default
	// 100,000.
	MaxGroups int
	// MaxMembersPerGroup bounds one group's members on all nodes
	// together, counting each join of a process: a join past it fails
	// with ErrLimit. Default 100,000.
	MaxMembersPerGroup int
	// MaxMembers bounds the joins of this node's processes in the scope,
	// all groups together: a join past it fails with ErrLimit. Default
	// and ceiling 100,000.
	MaxMembers int
	// MaxSubscriptions bounds the scope's open subscriptions (Monitor,
	// Events) on this node: one more fails with ErrLimit. Default 10,000.
	MaxSubscriptions int
	// MonitorBuffer bounds the events a subscription holds that its
	// reader has not taken; MonitorBufferBytes bounds their bytes (group
	// names and PIDs). An event past either ends the subscription: the
	// reader gets the events held, then one Overflow event, then the end.
	// Defaults 1024 events and 1 MiB.
	MonitorBuffer      int
	MonitorBufferBytes int
}

// Check fills in the defaults and reports the first field past its
// ceiling or below zero.
func (o ScopeOptions) Check() (ScopeOptions, error) {
	for _, f := range []struct {
		name         string
		v            *int
		def, ceiling int
	}{
		{"max_groups", &o.MaxGroups, DefaultMaxGroups, CeilingMaxGroups},
		{"max_members_per_group", &o.MaxMembersPerGroup, DefaultMaxMembersPerGroup, CeilingMaxMembersPerGroup},
		{"max_members", &o.MaxMembers, DefaultMaxMembers, CeilingMaxMembers},
		{"max_subscriptions", &o.MaxSubscriptions, DefaultMaxSubscriptions, CeilingMaxSubscriptions},
		{"monitor_buffer", &o.MonitorBuffer, DefaultMonitorBuffer, CeilingMonitorBuffer},
		{"monitor_buffer_bytes", &o.MonitorBufferBytes, DefaultMonitorBufferBytes, CeilingMonitorBufferBytes},
	} {
		switch {
		case *f.v < 0:
			return o, fmt.Errorf("%s: %d is negative", f.name, *f.v)
		case *f.v > f.ceiling:
			return o, fmt.Errorf("%s: %d is more than the ceiling %d", f.name, *f.v, f.ceiling)
		case *f.v == 0:
			*f.v = f.def
		}
	}
	return o, nil
}

// Carrier carries the groups' bytes between nodes: *cluster.Transport
// implements it (and calls the Service back as its GroupHandler).
type Carrier interface {
	// SendGroups queues data for node, in order after what was queued
	// before, without blocking.
	SendGroups(node, data string) error
	// Peers returns the nodes seen up; IsUp says whether one is.
	Peers() []string
	IsUp(node string) bool
}

// Options configure a Service. Node is required.
type Options struct {
	// Node is the node whose processes join. Required.
	Node *process.Node
	// Carrier reaches the other nodes. Default nil: the node is alone.
	Carrier Carrier
	// Host is the process host the Service adds for its watcher process,
	// which monitors the members. Default "pg:members".
	Host string
	// Logger receives warnings (a node's bad data, sends that failed).
	// Default: discarded.
	Logger *slog.Logger
}
