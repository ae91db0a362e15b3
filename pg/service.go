package pg

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// Service holds a node's process-group scopes. Make it with New, add the
// scopes, and Close it when the node stops. With a Carrier, give it to
// the cluster transport as its GroupHandler (cluster.Transport.SetGroups).
type Service struct {
	node    *process.Node
	car     Carrier
	log     *slog.Logger
	watcher pid.PID

	mu     sync.RWMutex
	scopes map[string]*Scope
	closed bool

	owedMu sync.Mutex
	owed   map[string]bool // nodes a send to failed: owed a full state (resync)
	wake   chan struct{}
	stop   chan struct{}
	wg     sync.WaitGroup

	stats struct {
		badIn, staleIn, unknownScope, sendErrors, resyncs atomic.Uint64
	}
}

// New returns a Service with no scopes. It adds the process host
// Options.Host and spawns its watcher there.
func New(opts Options) (*Service, error) {
	if opts.Node == nil {
		return nil, errors.New("pg: Options.Node is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Host == "" {
		opts.Host = "pg:members"
	}
	s := &Service{node: opts.Node, car: opts.Carrier, log: opts.Logger, scopes: map[string]*Scope{},
		owed: map[string]bool{}, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	if _, err := opts.Node.AddHost(opts.Host, nil); err != nil {
		return nil, fmt.Errorf("pg: %w", err)
	}
	w, err := opts.Node.SpawnReactive(opts.Host, &watcher{s: s}, process.SpawnOptions{Entry: "pg watcher"})
	if err != nil {
		return nil, fmt.Errorf("pg: %w", err)
	}
	s.watcher = w
	if s.car != nil {
		s.wg.Add(1)
		go s.resyncLoop()
	}
	return s, nil
}

// AddScope adds a scope named name (a pg.scope entry's id).
func (s *Service) AddScope(name string, opts ScopeOptions) (*Scope, error) {
	if err := checkName("scope", name); err != nil {
		return nil, err
	}
	o, err := opts.Check()
	if err != nil {
		return nil, fmt.Errorf("pg: scope %s: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scopes[name] != nil {
		return nil, fmt.Errorf("pg: scope %s added twice", name)
	}
	sc := newScope(s, name, o)
	s.scopes[name] = sc
	if s.car != nil {
		// Nodes up before the scope was added (before the transport knew
		// of this Service, even) exchange whole states with it at the
		// resync loop's next round, by when SetGroups has been called.
		for _, n := range s.car.Peers() {
			s.owe(n)
		}
	}
	return sc, nil
}

// Scope returns the scope named name.
func (s *Service) Scope(name string) (*Scope, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sc, ok := s.scopes[name]
	return sc, ok
}

// Scopes returns the names of the scopes, sorted.
func (s *Service) Scopes() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.scopes))
	for n := range s.scopes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (s *Service) eachScope(fn func(*Scope)) {
	s.mu.RLock()
	scs := make([]*Scope, 0, len(s.scopes))
	for _, sc := range s.scopes {
		scs = append(scs, sc)
	}
	s.mu.RUnlock()
	for _, sc := range scs {
		fn(sc)
	}
}

// Close ends every subscription and the watcher, and stops resending
// state. Members stay members on the other nodes until this node is down
// there (its cluster transport says goodbye when it closes).
func (s *Service) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.eachScope(func(sc *Scope) { sc.closeSubs() })
	_ = s.node.Terminate(s.watcher)
}

// GroupData applies data from node from (cluster.GroupHandler). Data from
// a node not up here is dropped: the node sends its whole state again
// when it sees this node ask for it, after this node sees it up.
func (s *Service) GroupData(from, data string) {
	m, err := decode(data, from)
	if err != nil {
		if n := s.stats.badIn.Add(1); n&(n-1) == 0 {
			s.log.Warn("pg: bad data from another node", "node", from, "error", err, "bad_so_far", n)
		}
		return
	}
	if s.car == nil || !s.car.IsUp(from) {
		s.stats.staleIn.Add(1)
		return
	}
	sc, ok := s.Scope(m.scope)
	if !ok {
		s.stats.unknownScope.Add(1) // a scope this node's config lacks
		return
	}
	switch m.op {
	case opJoin:
		sc.remoteJoin(from, m.member, m.groups)
	case opLeave:
		sc.remoteLeave(from, m.member, m.groups)
	case opSync, opAsk:
		sc.remoteSync(from, m.state)
		if m.op == opAsk {
			sc.sendSync(from, opSync)
		}
	case opCast:
		sc.deliverLocal(m.cast.from, m.cast.group, m.cast.topic, m.cast.payload)
	}
}

// PeerChanged is told that something happened to node
// (cluster.GroupHandler): up, it is sent every scope's state and asked
// for its own; down, its members are removed.
func (s *Service) PeerChanged(node string) {
	if s.car == nil {
		return
	}
	if s.car.IsUp(node) {
		s.eachScope(func(sc *Scope) { sc.sendSync(node, opAsk) })
		return
	}
	s.owedMu.Lock()
	delete(s.owed, node)
	s.owedMu.Unlock()
	s.eachScope(func(sc *Scope) { sc.nodeDown(node) })
}

// send sends data to node, and owes it a full state when that fails for
// a reason other than its being down.
func (s *Service) send(node, data string) bool {
	err := s.car.SendGroups(node, data)
	if err == nil {
		return true
	}
	if s.car.IsUp(node) {
		s.stats.sendErrors.Add(1)
		s.owe(node)
	}
	return false
}

func (s *Service) owe(node string) {
	s.owedMu.Lock()
	s.owed[node] = true
	s.owedMu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// resyncEvery is how often the Service tries again to send its state to
// the nodes a send failed to (a full queue toward them).
const resyncEvery = 100 * time.Millisecond

// resyncLoop sends each owed node every scope's state and asks for its
// own (a send that failed may have been an answer), until it goes.
func (s *Service) resyncLoop() {
	defer s.wg.Done()
	t := time.NewTicker(resyncEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-s.wake:
		case <-t.C:
		}
		s.owedMu.Lock()
		nodes := make([]string, 0, len(s.owed))
		for n := range s.owed {
			nodes = append(nodes, n)
		}
		clear(s.owed)
		s.owedMu.Unlock()
		for _, n := range nodes {
			s.stats.resyncs.Add(1)
			s.eachScope(func(sc *Scope) { sc.sendSync(n, opAsk) })
		}
		// A send that failed again owes the node again; wait for the tick.
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// Stats are the Service's counters.
type Stats struct {
	BadIn        uint64 // data from other nodes that was not valid, dropped
	StaleIn      uint64 // data from nodes not up here, dropped
	UnknownScope uint64 // data for scopes this node does not have, dropped
	SendErrors   uint64 // sends to nodes up that failed (their state is sent again)
	Resyncs      uint64 // full states sent again after a failed send
}

// Stats returns the Service's counters.
func (s *Service) Stats() Stats {
	return Stats{BadIn: s.stats.badIn.Load(), StaleIn: s.stats.staleIn.Load(), UnknownScope: s.stats.unknownScope.Load(),
		SendErrors: s.stats.sendErrors.Load(), Resyncs: s.stats.resyncs.Load()}
}

// watcher is the Service's process: it monitors every local member, and
// removes one that ends from every scope.
type watcher struct{ s *Service }

func (w *watcher) HandleMessage(*process.Process, process.Message) error { return nil }

func (w *watcher) HandleEvent(_ *process.Process, e process.Event) error {
	if e.Kind == process.EventExit {
		w.s.eachScope(func(sc *Scope) { sc.memberEnded(e.From) })
	}
	return nil
}

func (w *watcher) Terminate(*process.Process, process.Result) {}

// watch makes the watcher monitor the local process p (once: monitoring
// it again does nothing). A process that has ended gives an EXIT at once.
func (s *Service) watch(p pid.PID) error {
	return s.node.MonitorNotice(s.watcher, p, "pg.watch", value.Nil())
}
