package process

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsrelay/wsrelay/internal/ratelog"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process/transport"
)

// Options configure a Node. The zero Options are valid.
type Options struct {
	// Name is the node's name, the node part of its PIDs. Default "local".
	Name string
	// Logger receives the runtime's logs (dropped messages, panics).
	// Default: logs are discarded.
	Logger *slog.Logger
	// Transport carries signals to processes of other nodes. Default nil:
	// operations on remote PIDs fail with ErrNoTransport.
	// A transport.Receiver is attached to the node by NewNode.
	Transport transport.Transport
	// Boot is the incarnation's start time, which seeds PID ids (see
	// pid.Generator). Default time.Now().
	Boot time.Time
	// CrashReports is how many crash reports (and LogFailure lines) the
	// node logs per second at most; past it they are counted and
	// summarized in one line. Default DefaultCrashReports (10); negative:
	// none are logged.
	CrashReports int
	// ClusterNames, when set, holds names registered cluster-wide; Resolve
	// looks a name up there before the node's own names. Default nil: only
	// the node's names (the cluster package provides one).
	ClusterNames NameLookup
	// ReceiptBytesPerNode bounds the bytes of messages with a receipt
	// (TrySend from another node), receipts included, that each
	// other node may have in this node's mailboxes past their bounds;
	// past it, such a
	// message is dropped for a full mailbox like any other. Default
	// DefaultReceiptBytesPerNode (64 MiB).
	ReceiptBytesPerNode int
	// MaxNames bounds the names (registered or reserved) the node holds at
	// once; registering one more is an error matching ErrTooManyNames.
	// Default DefaultMaxNames (100,000); negative: no bound.
	MaxNames int
	// MaxNamesPerProcess bounds the names one process holds or keeps
	// reserved at once, the same way. Default DefaultMaxNamesPerProcess
	// (64); negative: no bound.
	MaxNamesPerProcess int
}

// NameLookup finds the PID a cluster-wide name is registered to.
type NameLookup interface {
	LookupName(name string) (pid.PID, bool)
}

// Node is one runtime instance: its process hosts, its processes and its
// name registry. Create it with NewNode; stop it with Shutdown.
type Node struct {
	name      string
	log       *slog.Logger
	transport transport.Transport
	cnames    NameLookup
	ids       *pid.Generator
	boot      time.Time

	hostsMu sync.RWMutex
	hosts   map[string]*Host

	procs procTable

	namesMu      sync.Mutex
	names        map[string]nameEntry
	maxNames     int // bound of len(names); no bound when negative
	maxProcNames int // bound of a process's names; no bound when negative

	crashes *ratelog.Limiter // crash reports per second
	ends    recentEnds       // the last abnormal ends, for observers

	closing     atomic.Bool
	live        waitCounter // processes not yet ended
	goroutines  waitCounter // goroutines started by the node not yet returned
	deadLetters atomic.Uint64
	bigNotices  atomic.Uint64 // notices over MaxNoticeBytes from other nodes, dropped
	fullNotices atomic.Uint64 // notices past MaxNoticeBytesPerProcess from other nodes, dropped

	sent         sentReceipts // receipts for messages sent to other nodes (receipt.go)
	acks         takenAcks    // answers owed to other nodes for their messages taken
	receiptBytes int64
}

// NewNode returns a node with no process hosts.
func NewNode(opts *Options) (*Node, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.Name == "" {
		o.Name = "local"
	}
	if err := pid.ValidNodeName(o.Name); err != nil {
		return nil, fmt.Errorf("process: node options: %w", err)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.ReceiptBytesPerNode <= 0 {
		o.ReceiptBytesPerNode = DefaultReceiptBytesPerNode
	}
	if o.Boot.IsZero() {
		o.Boot = time.Now()
	}
	o.MaxNames = defaultBound(o.MaxNames, DefaultMaxNames)
	o.MaxNamesPerProcess = defaultBound(o.MaxNamesPerProcess, DefaultMaxNamesPerProcess)
	switch {
	case o.CrashReports == 0:
		o.CrashReports = DefaultCrashReports
	case o.CrashReports < 0:
		o.CrashReports = 0
	}
	n := &Node{
		name:      o.Name,
		log:       o.Logger,
		transport: o.Transport,
		cnames:    o.ClusterNames,
		ids:       pid.NewGenerator(o.Boot),
		boot:      o.Boot,
		hosts:     make(map[string]*Host),
		names:     make(map[string]nameEntry),

		receiptBytes: int64(o.ReceiptBytesPerNode),
		maxNames:     o.MaxNames,
		maxProcNames: o.MaxNamesPerProcess,
	}
	n.procs.init()
	n.acks.init()
	n.crashes = ratelog.New(o.CrashReports)
	if r, ok := o.Transport.(transport.Receiver); ok {
		r.Attach(transportSide{n})
	}
	return n, nil
}

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// Boot returns the incarnation's start time (Options.Boot): every PID
// id this incarnation issues is above it in nanoseconds.
func (n *Node) Boot() time.Time { return n.boot }

// Logger returns the node's logger.
func (n *Node) Logger() *slog.Logger { return n.log }

// IsLocal reports whether p is a PID of this node (a PID with no node is).
func (n *Node) IsLocal(p pid.PID) bool { return p.Node == "" || p.Node == n.name }

// normalize gives a PID parsed without a node this node's name.
func (n *Node) normalize(p pid.PID) pid.PID {
	if p.Node == "" {
		p.Node = n.name
	}
	return p
}

// lookup returns the local process p names, or nil.
func (n *Node) lookup(p pid.PID) *Process {
	if !n.IsLocal(p) {
		return nil
	}
	proc := n.procs.get(p.ID)
	if proc == nil || proc.pid.Host != p.Host {
		return nil
	}
	return proc
}

// Alive reports whether p is a live process of this node.
func (n *Node) Alive(p pid.PID) bool {
	proc := n.lookup(p)
	return proc != nil && !proc.isDead()
}

// MailboxLen returns how many messages wait in the mailbox of the local
// process p (0 when p is not a live process of this node).
func (n *Node) MailboxLen(p pid.PID) int {
	if proc := n.lookup(p); proc != nil {
		return proc.inbox.len()
	}
	return 0
}

// MailboxBytes returns the bytes held in the mailbox of the local process
// p (see HostOptions.MailboxBytes), or 0 if there is no such process.
func (n *Node) MailboxBytes(p pid.PID) int {
	if proc := n.lookup(p); proc != nil {
		return proc.inbox.byteLen()
	}
	return 0
}

// Stats are counters of the whole node.
type Stats struct {
	Processes   int    // live processes
	DeadLetters uint64 // messages sent to processes that had ended
}

// Stats returns the node's counters.
func (n *Node) Stats() Stats {
	return Stats{Processes: n.live.value(), DeadLetters: n.deadLetters.Load()}
}

// procTable maps process ids to processes, sharded to spread lock contention.
type procTable struct {
	shards [64]procShard
}

type procShard struct {
	mu sync.RWMutex
	m  map[uint64]*Process
}

func (t *procTable) init() {
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]*Process)
	}
}

func (t *procTable) shard(id uint64) *procShard { return &t.shards[id%uint64(len(t.shards))] }

func (t *procTable) get(id uint64) *Process {
	s := t.shard(id)
	s.mu.RLock()
	p := s.m[id]
	s.mu.RUnlock()
	return p
}

func (t *procTable) put(p *Process) {
	s := t.shard(p.pid.ID)
	s.mu.Lock()
	s.m[p.pid.ID] = p
	s.mu.Unlock()
}

func (t *procTable) delete(id uint64) {
	s := t.shard(id)
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// each calls fn for every process in the table (live or ending).
func (t *procTable) each(fn func(*Process)) {
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		ps := make([]*Process, 0, len(s.m))
		for _, p := range s.m {
			ps = append(ps, p)
		}
		s.mu.RUnlock()
		for _, p := range ps {
			fn(p)
		}
	}
}

// waitCounter counts things in progress and lets a caller wait for zero.
type waitCounter struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed when n is 0; nil until someone waits
}

func (c *waitCounter) add() {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func (c *waitCounter) done() {
	c.mu.Lock()
	c.n--
	if c.n == 0 && c.zero != nil {
		close(c.zero)
		c.zero = nil
	}
	c.mu.Unlock()
}

func (c *waitCounter) value() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// wait returns a channel closed once the count is zero.
func (c *waitCounter) wait() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{})
	if c.n == 0 {
		close(ch)
		return ch
	}
	if c.zero == nil {
		c.zero = make(chan struct{})
	}
	return c.zero
}
