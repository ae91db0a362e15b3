package cluster

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Defaults of Options.
const (
	DefaultCluster           = "wsrelay"
	DefaultMaxBatch          = 64 << 10
	DefaultMaxPending        = 8 << 20
	DefaultMaxReassembly     = 2 * MaxSignal
	DefaultHeartbeatInterval = time.Second
	DefaultHeartbeatTimeout  = 3 * time.Second
)

// Options configure a Transport. The zero Options are valid.
type Options struct {
	// Cluster prefixes every subject, so several clusters can share one
	// NATS. Default DefaultCluster ("wsrelay"). Letters, digits, '-' and
	// '_' only.
	Cluster string
	// Logger receives the transport's logs (peers up and down, bad
	// batches). Default: discarded.
	Logger *slog.Logger
	// MaxBatch is the most bytes of small signals gathered in one NATS
	// message; a bigger signal makes a batch of its own, sent in parts
	// when it passes the server's max payload. Default DefaultMaxBatch
	// (64 KiB), and never more than half the max payload of the server
	// the connection is on at New.
	MaxBatch int
	// MaxPending bounds the bytes waiting to be sent to one node: a signal
	// that would pass it fails with ErrBacklog while half of it waits (so
	// the queue may hold MaxPending/2 plus one signal), except one that ends a
	// monitor or a link (one per relation, and a lost one would leave its
	// watcher waiting). Default DefaultMaxPending (8 MiB).
	MaxPending int
	// MaxReassembly bounds the bytes this node holds for big batches from
	// other nodes that arrive in parts (a batch longer than the NATS
	// server's max payload), for all of them together; a batch that would
	// pass it is dropped and its sender told (see Stats.PartialsDropped).
	// A batch bigger than it can never be applied: keep it at least the
	// largest signal the nodes send (MaxSignal at most). Default
	// DefaultMaxReassembly (128 MiB: two of the largest).
	MaxReassembly int
	// HeartbeatInterval is how often the node announces itself.
	// Default DefaultHeartbeatInterval (1s).
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long a node may stay silent before it is
	// down. Default DefaultHeartbeatTimeout (3s); at least three times
	// the interval, and 500 ms: a node cut off must notice, by its own
	// heartbeats not coming back, before the others take it for lost.
	HeartbeatTimeout time.Duration
	// NamesReplicas is how many JetStream servers keep a copy of the
	// cluster-wide names' bucket (NewNames): 3 on a JetStream cluster of
	// three servers or more, so the names outlive any one of them. It
	// applies when the bucket is made or updated at Start. Default 1.
	NamesReplicas int
}

func (o Options) withDefaults() (Options, error) {
	if o.Cluster == "" {
		o.Cluster = DefaultCluster
	}
	if err := checkToken("cluster", o.Cluster); err != nil {
		return o, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.MaxReassembly <= 0 {
		o.MaxReassembly = DefaultMaxReassembly
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if o.HeartbeatTimeout < 3*o.HeartbeatInterval || o.HeartbeatTimeout < 500*time.Millisecond {
		return o, fmt.Errorf("cluster: heartbeat timeout %v must be at least three times the interval %v, and 500ms: a node cut off must notice before the others take it for lost", o.HeartbeatTimeout, o.HeartbeatInterval)
	}
	return o, nil
}

// checkToken accepts names made of letters, digits, '-' and '_': they are
// NATS subject tokens and need no escaping.
func checkToken(kind, s string) error {
	if s == "" || len(s) > 128 || strings.TrimFunc(s, func(r rune) bool {
		return r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	}) != "" {
		return fmt.Errorf("cluster: %s name %q: %w (use 1 to 128 letters, digits, '-' or '_')", kind, s, ErrBadName)
	}
	return nil
}
