package config

// KindPGScope is a process-group scope (package pg; docs/pg.md).
const KindPGScope = "pg.scope"

// PGScope is a namespace of process groups: Lua's pg.open(id) opens it.
// Every field is optional; a bound of 0 (or none) is its default, and
// package pg refuses one past its ceiling.
type PGScope struct {
	MaxGroups          int `yaml:"max_groups"`            // default 100,000
	MaxMembersPerGroup int `yaml:"max_members_per_group"` // default 100,000, counting each join
	MaxMembers         int `yaml:"max_members"`           // this node's joins, all groups; default 100,000
	MaxSubscriptions   int `yaml:"max_subscriptions"`     // open monitor/events subscriptions on this node; default 10,000
	MonitorBuffer      int `yaml:"monitor_buffer"`        // events a subscription holds; default 1024
	// MonitorBufferBytes bounds the bytes of the events a subscription
	// holds, like "1MiB" (the default); at least 4KiB.
	MonitorBufferBytes string `yaml:"monitor_buffer_bytes"`
	// Lifecycle: a scope with auto_start false is checked, not created:
	// pg.open fails for it.
	Lifecycle StartLifecycle `yaml:"lifecycle"`

	// The original runtime's options that have no meaning here: refused
	// with the reason (see Check).
	ProtocolTimeout         any `yaml:"protocol_timeout"`
	AntiEntropyInterval     any `yaml:"anti_entropy_interval"`
	BroadcastTimeout        any `yaml:"broadcast_timeout"`
	MaxRetries              any `yaml:"max_retries"`
	RetryBaseDelay          any `yaml:"retry_base_delay"`
	RetryMaxDelay           any `yaml:"retry_max_delay"`
	CircuitBreakerFailures  any `yaml:"circuit_breaker_failures"`
	CircuitBreakerResetTime any `yaml:"circuit_breaker_reset_time"`
	ActionQueueSize         any `yaml:"action_queue_size"`
	ActionQueueMaxSize      any `yaml:"action_queue_max_size"`

	// MaxBufferBytes is MonitorBufferBytes in bytes; 0 when not set.
	MaxBufferBytes int64 `yaml:"-"`
}

const (
	pgWhySync      = "has no meaning here: a node's joins and leaves travel in the cluster's ordered stream to each node, and its whole state is sent again whenever a node comes up or back or a send to it fails, so there is no sync protocol to time out nor a reconcile loop (see docs/pg.md)"
	pgWhyBroadcast = "has no meaning here: a broadcast is queued, never waited on, and is delivered at most once like process.send, so there is nothing to time out or retry (see docs/pg.md)"
	pgWhyBreaker   = "has no meaning here: the cluster's heartbeats decide when a node is lost, and a send to a node down fails at once (see docs/pg.md)"
	pgWhyQueue     = "has no meaning here: a scope has no event queue, changes are applied at once; bound the scope with max_members, max_groups, max_members_per_group, max_subscriptions and monitor_buffer (see docs/pg.md)"
)

func (s *PGScope) Check(c *Checker) {
	for field, v := range map[string]int{"max_groups": s.MaxGroups, "max_members_per_group": s.MaxMembersPerGroup,
		"max_members": s.MaxMembers, "max_subscriptions": s.MaxSubscriptions, "monitor_buffer": s.MonitorBuffer} {
		if v < 0 {
			c.Fail(field, "must not be negative")
		}
	}
	s.MaxBufferBytes = checkBytes(c, "monitor_buffer_bytes", s.MonitorBufferBytes, 4<<10, "4KiB")
	for _, f := range []struct {
		field, why string
		v          any
	}{
		{"protocol_timeout", pgWhySync, s.ProtocolTimeout},
		{"anti_entropy_interval", pgWhySync, s.AntiEntropyInterval},
		{"broadcast_timeout", pgWhyBroadcast, s.BroadcastTimeout},
		{"max_retries", pgWhyBroadcast, s.MaxRetries},
		{"retry_base_delay", pgWhyBroadcast, s.RetryBaseDelay},
		{"retry_max_delay", pgWhyBroadcast, s.RetryMaxDelay},
		{"circuit_breaker_failures", pgWhyBreaker, s.CircuitBreakerFailures},
		{"circuit_breaker_reset_time", pgWhyBreaker, s.CircuitBreakerResetTime},
		{"action_queue_size", pgWhyQueue, s.ActionQueueSize},
		{"action_queue_max_size", pgWhyQueue, s.ActionQueueMaxSize},
	} {
		if f.v != nil {
			c.Fail(f.field, "%s", f.why)
		}
	}
}
