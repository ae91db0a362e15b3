package pg

import (
	"fmt"
	"sort"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

// members counts the joins of each member of a group.
type members map[pid.PID]int

// Scope is one pg.scope on this node: its groups on every node, as this
// node knows them. Its methods are safe for concurrent use.
type Scope struct {
	svc  *Service
	name string
	opts ScopeOptions

	mu         sync.Mutex
	local      map[string]members            // this node's members, by group
	remote     map[string]map[string]members // other nodes' members: by node, then group
	count      map[string]int                // joins of each group on every node (only groups with members)
	localJoins int
	subs       map[string]map[*Subscription]struct{} // Monitor's, by group
	all        map[*Subscription]struct{}            // Events'
	nsubs      int
}

func newScope(s *Service, name string, o ScopeOptions) *Scope {
	return &Scope{svc: s, name: name, opts: o, local: map[string]members{}, remote: map[string]map[string]members{},
		count: map[string]int{}, subs: map[string]map[*Subscription]struct{}{}, all: map[*Subscription]struct{}{}}
}

// Name returns the scope's name.
func (sc *Scope) Name() string { return sc.name }

// Options returns the scope's bounds, defaults filled in.
func (sc *Scope) Options() ScopeOptions { return sc.opts }

func checkName(what, s string) error {
	switch {
	case s == "":
		return fmt.Errorf("pg: empty %s name: %w", what, ErrInvalid)
	case len(s) > MaxName:
		return fmt.Errorf("pg: %s name of %d bytes is longer than %d: %w", what, len(s), MaxName, ErrInvalid)
	case !utf8.ValidString(s):
		return fmt.Errorf("pg: %s name %q is not valid UTF-8: %w", what, s, ErrInvalid)
	}
	return nil
}

// maxTopic bounds a broadcast's topic, in bytes.
const maxTopic = 1024

func checkTopic(t string) error {
	switch {
	case t == "":
		return fmt.Errorf("pg: empty topic: %w", ErrInvalid)
	case t[0] == '@':
		return fmt.Errorf("pg: topic %q starts with '@', which the runtime keeps for its own: %w", t, ErrInvalid)
	case len(t) > maxTopic:
		return fmt.Errorf("pg: topic of %d bytes is longer than %d: %w", len(t), maxTopic, ErrInvalid)
	}
	return nil
}

func checkGroups(groups []string) error {
	if len(groups) == 0 {
		return fmt.Errorf("pg: no group given: %w", ErrInvalid)
	}
	for _, g := range groups {
		if err := checkName("group", g); err != nil {
			return err
		}
	}
	return nil
}

// local normalizes p, a PID of this node.
func (sc *Scope) localPID(p pid.PID) (pid.PID, error) {
	n := sc.svc.node
	if !n.IsLocal(p) {
		return p, fmt.Errorf("pg: %s: %w: each node joins its own processes", p, ErrNotLocal)
	}
	p.Node = n.Name()
	return p, nil
}

// Join makes member, a process of this node, join each group listed (a
// group listed twice is joined twice). A process may join a group several
// times; it is a member until it has left as many times, or has ended.
// Nothing is joined when a bound would be passed (ErrLimit).
func (sc *Scope) Join(member pid.PID, groups ...string) error {
	if err := checkGroups(groups); err != nil {
		return err
	}
	member, err := sc.localPID(member)
	if err != nil {
		return err
	}
	if !sc.svc.node.Alive(member) {
		return fmt.Errorf("pg: join %s: %w", member, ErrNoProc)
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if err := sc.checkRoom(groups); err != nil {
		return err
	}
	// Monitored before it is a member: one that ends from now on is
	// removed by the watcher's EXIT (for one already ended, at once).
	if err := sc.svc.watch(member); err != nil {
		return fmt.Errorf("pg: join %s: %w", member, ErrNoProc)
	}
	for _, g := range groups {
		add(sc.local, g, member, 1)
		sc.count[g]++
		sc.localJoins++
		sc.emit(Joined, g, []pid.PID{member})
	}
	sc.broadcastDelta(opJoin, member, groups)
	return nil
}

// checkRoom reports ErrLimit when joining groups would pass a bound.
func (sc *Scope) checkRoom(groups []string) error {
	if sc.localJoins+len(groups) > sc.opts.MaxMembers {
		return fmt.Errorf("pg: scope %s: %d joins on this node already, at most %d (max_members): %w", sc.name, sc.localJoins, sc.opts.MaxMembers, ErrLimit)
	}
	newGroups := 0
	extra := map[string]int{}
	for _, g := range groups {
		extra[g]++
		if sc.count[g] == 0 && extra[g] == 1 {
			newGroups++
		}
		if sc.count[g]+extra[g] > sc.opts.MaxMembersPerGroup {
			return fmt.Errorf("pg: scope %s: group %q has %d members, at most %d (max_members_per_group): %w", sc.name, g, sc.count[g], sc.opts.MaxMembersPerGroup, ErrLimit)
		}
	}
	if newGroups > 0 && len(sc.count)+newGroups > sc.opts.MaxGroups {
		return fmt.Errorf("pg: scope %s: %d groups already, at most %d (max_groups): %w", sc.name, len(sc.count), sc.opts.MaxGroups, ErrLimit)
	}
	return nil
}

// Leave makes member leave each group listed once. Groups it is not a
// member of are skipped; when it is a member of none, Leave fails with
// ErrNotMember.
func (sc *Scope) Leave(member pid.PID, groups ...string) error {
	if err := checkGroups(groups); err != nil {
		return err
	}
	member, err := sc.localPID(member)
	if err != nil {
		return err
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	var left []string
	for _, g := range groups {
		if sc.local[g][member] == 0 {
			continue
		}
		add(sc.local, g, member, -1)
		sc.dec(g, 1)
		sc.localJoins--
		left = append(left, g)
		sc.emit(Left, g, []pid.PID{member})
	}
	if len(left) == 0 {
		return fmt.Errorf("pg: %s is not a member of %s: %w", member, quoteAll(groups), ErrNotMember)
	}
	sc.broadcastDelta(opLeave, member, left)
	return nil
}

func quoteAll(groups []string) string {
	if len(groups) == 1 {
		return "group " + strconv.Quote(groups[0])
	}
	s := "any of the groups"
	for i, g := range groups {
		if i == 8 {
			return s + " …"
		}
		s += " " + strconv.Quote(g)
	}
	return s
}

// add adds n (negative: removes) joins of p to group g of m.
func add(m map[string]members, g string, p pid.PID, n int) {
	ms := m[g]
	if ms == nil {
		ms = members{}
		m[g] = ms
	}
	if ms[p] += n; ms[p] <= 0 {
		delete(ms, p)
		if len(ms) == 0 {
			delete(m, g)
		}
	}
}

func (sc *Scope) dec(g string, n int) {
	if sc.count[g] -= n; sc.count[g] <= 0 {
		delete(sc.count, g)
	}
}

// broadcastDelta tells every node up of a local join or leave; sc.mu is
// held, so the deltas and full states a node is sent keep the order of
// the changes.
func (sc *Scope) broadcastDelta(o op, member pid.PID, groups []string) {
	if sc.svc.car == nil {
		return
	}
	peers := sc.svc.car.Peers()
	if len(peers) == 0 {
		return
	}
	data := encodeDelta(o, sc.name, member, groups)
	for _, n := range peers {
		sc.svc.send(n, data)
	}
}

// sendSync sends node this node's members of the scope, all of them.
func (sc *Scope) sendSync(node string, o op) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sc.svc.send(node, encodeSync(o, sc.name, sc.local))
}

// expand lists each member as many times as it joined.
func expand(dst []pid.PID, ms members) []pid.PID {
	for p, n := range ms {
		for range n {
			dst = append(dst, p)
		}
	}
	return dst
}

// Members returns the members of group on every node, each PID as many
// times as it joined; empty for a group without members.
func (sc *Scope) Members(group string) []pid.PID {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.membersLocked(group)
}

func (sc *Scope) membersLocked(group string) []pid.PID {
	out := expand(make([]pid.PID, 0, sc.count[group]), sc.local[group])
	for _, gs := range sc.remote {
		out = expand(out, gs[group])
	}
	return out
}

// LocalMembers returns the members of group on this node, each PID as
// many times as it joined.
func (sc *Scope) LocalMembers(group string) []pid.PID {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return expand(nil, sc.local[group])
}

// Groups returns the groups with members on any node, sorted.
func (sc *Scope) Groups() []string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sortedKeys(sc.count)
}

// LocalGroups returns the groups with members on this node, sorted.
func (sc *Scope) LocalGroups() []string {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sortedKeys(sc.local)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Broadcast sends topic/payload from from to every member of group, once
// to each process however many times it joined: this node's members
// directly, and one cluster message to each other node with members,
// which hands it to its own. The payload is encoded once. A group without
// members is not an error. The error is the first send that failed (a
// member's full mailbox is not one: it is counted by the node, as for
// process.Node.Send); the others are still made.
func (sc *Scope) Broadcast(from pid.PID, group, topic string, payload value.Value) error {
	return sc.broadcast(from, group, topic, payload, true)
}

// BroadcastLocal is Broadcast to the members on this node only.
func (sc *Scope) BroadcastLocal(from pid.PID, group, topic string, payload value.Value) error {
	return sc.broadcast(from, group, topic, payload, false)
}

func (sc *Scope) broadcast(from pid.PID, group, topic string, payload value.Value, everywhere bool) error {
	if err := checkName("group", group); err != nil {
		return err
	}
	if err := checkTopic(topic); err != nil {
		return err
	}
	if sc.svc.node.IsLocal(from) && !from.IsZero() {
		from.Node = sc.svc.node.Name()
	}
	var nodes []string
	if everywhere && sc.svc.car != nil {
		sc.mu.Lock()
		for n, gs := range sc.remote {
			if len(gs[group]) > 0 {
				nodes = append(nodes, n)
			}
		}
		sc.mu.Unlock()
	}
	sc.deliverLocal(from, group, topic, payload)
	if len(nodes) == 0 {
		return nil
	}
	data := encodeCast(sc.name, cast{group: group, topic: topic, from: from, payload: payload})
	var first error
	for _, n := range nodes {
		if err := sc.svc.car.SendGroups(n, data); err != nil && first == nil {
			first = fmt.Errorf("pg: broadcast to the members on node %s: %w", n, err)
		}
	}
	return first
}

// deliverLocal sends a broadcast to this node's members of group.
func (sc *Scope) deliverLocal(from pid.PID, group, topic string, payload value.Value) {
	sc.mu.Lock()
	ms := sc.local[group]
	to := make([]pid.PID, 0, len(ms))
	for p := range ms {
		to = append(to, p)
	}
	sc.mu.Unlock()
	for _, p := range to {
		_ = sc.svc.node.Send(from, p, topic, payload)
	}
}

// Monitor subscribes to the joins and leaves of group and returns its
// members at that instant: every change after the snapshot, and none
// before, comes as an event.
func (sc *Scope) Monitor(group string) (*Subscription, []pid.PID, error) {
	if err := checkName("group", group); err != nil {
		return nil, nil, err
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sub, err := sc.subscribeLocked(group, false)
	if err != nil {
		return nil, nil, err
	}
	return sub, sc.membersLocked(group), nil
}

// Events subscribes to the joins and leaves of every group of the scope
// and returns every group's members at that instant.
func (sc *Scope) Events() (*Subscription, map[string][]pid.PID, error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	sub, err := sc.subscribeLocked("", true)
	if err != nil {
		return nil, nil, err
	}
	snap := make(map[string][]pid.PID, len(sc.count))
	for g := range sc.count {
		snap[g] = sc.membersLocked(g)
	}
	return sub, snap, nil
}

func (sc *Scope) subscribeLocked(group string, all bool) (*Subscription, error) {
	sc.svc.mu.RLock()
	closed := sc.svc.closed
	sc.svc.mu.RUnlock()
	if closed {
		return nil, fmt.Errorf("pg: the service is closed: %w", ErrClosed)
	}
	if sc.nsubs >= sc.opts.MaxSubscriptions {
		return nil, fmt.Errorf("pg: scope %s: %d subscriptions open, at most %d (max_subscriptions): %w", sc.name, sc.nsubs, sc.opts.MaxSubscriptions, ErrLimit)
	}
	sub := newSubscription(sc, group, all)
	if all {
		sc.all[sub] = struct{}{}
	} else {
		if sc.subs[group] == nil {
			sc.subs[group] = map[*Subscription]struct{}{}
		}
		sc.subs[group][sub] = struct{}{}
	}
	sc.nsubs++
	return sub, nil
}

// unsubscribeLocked removes sub; it reports whether it was there.
func (sc *Scope) unsubscribeLocked(sub *Subscription) bool {
	if sub.all {
		if _, ok := sc.all[sub]; !ok {
			return false
		}
		delete(sc.all, sub)
	} else {
		set := sc.subs[sub.group]
		if _, ok := set[sub]; !ok {
			return false
		}
		delete(set, sub)
		if len(set) == 0 {
			delete(sc.subs, sub.group)
		}
	}
	sc.nsubs--
	return true
}

// MaxEventPIDs bounds the PIDs of one event: a change of more (a node's
// whole state, a node lost) comes as several events.
const MaxEventPIDs = 1024

// emit gives the subscribers of group an event, in pieces of at most
// MaxEventPIDs PIDs; sc.mu is held. A subscriber whose buffer is full is
// removed (it gets Overflow).
func (sc *Scope) emit(k EventKind, group string, pids []pid.PID) {
	if len(pids) == 0 || sc.nsubs == 0 {
		return
	}
	for len(pids) > MaxEventPIDs {
		sc.emitOne(Event{Kind: k, Group: group, PIDs: pids[:MaxEventPIDs:MaxEventPIDs]})
		pids = pids[MaxEventPIDs:]
	}
	sc.emitOne(Event{Kind: k, Group: group, PIDs: pids})
}

func (sc *Scope) emitOne(e Event) {
	for sub := range sc.subs[e.Group] {
		if !sub.push(e) {
			sc.unsubscribeLocked(sub)
		}
	}
	for sub := range sc.all {
		if !sub.push(e) {
			sc.unsubscribeLocked(sub)
		}
	}
}

func (sc *Scope) closeSubs() {
	sc.mu.Lock()
	var subs []*Subscription
	for sub := range sc.all {
		subs = append(subs, sub)
	}
	for _, set := range sc.subs {
		for sub := range set {
			subs = append(subs, sub)
		}
	}
	for _, sub := range subs {
		sc.unsubscribeLocked(sub)
	}
	sc.mu.Unlock()
	for _, sub := range subs {
		sub.end()
	}
}

// memberEnded removes p, a process of this node that ended, from every
// group of the scope.
func (sc *Scope) memberEnded(p pid.PID) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	var left []string
	for g, ms := range sc.local {
		n := ms[p]
		if n == 0 {
			continue
		}
		delete(ms, p)
		if len(ms) == 0 {
			delete(sc.local, g)
		}
		sc.dec(g, n)
		sc.localJoins -= n
		for range n {
			left = append(left, g)
		}
		sc.emit(Left, g, expand(nil, members{p: n}))
	}
	if len(left) > 0 {
		sc.broadcastDelta(opLeave, p, left)
	}
}

// remoteJoin applies node's member joining groups.
func (sc *Scope) remoteJoin(node string, member pid.PID, groups []string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	gs := sc.remote[node]
	if gs == nil {
		gs = map[string]members{}
		sc.remote[node] = gs
	}
	for _, g := range groups {
		if gs[g][member] >= maxJoins {
			continue
		}
		add(gs, g, member, 1)
		sc.count[g]++
		sc.emit(Joined, g, []pid.PID{member})
	}
}

// remoteLeave applies node's member leaving groups.
func (sc *Scope) remoteLeave(node string, member pid.PID, groups []string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	gs := sc.remote[node]
	for _, g := range groups {
		if gs[g][member] == 0 {
			continue
		}
		add(gs, g, member, -1)
		sc.dec(g, 1)
		sc.emit(Left, g, []pid.PID{member})
	}
	if len(gs) == 0 {
		delete(sc.remote, node)
	}
}

// remoteSync replaces node's members with st; only the differences are
// events.
func (sc *Scope) remoteSync(node string, st map[string]members) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	old := sc.remote[node]
	for g, ms := range old {
		var gone []pid.PID
		for p, n := range ms {
			if d := n - st[g][p]; d > 0 {
				gone = expand(gone, members{p: d})
			}
		}
		sc.dec(g, len(gone))
		sc.emit(Left, g, gone)
	}
	for g, ms := range st {
		var came []pid.PID
		for p, n := range ms {
			if d := n - old[g][p]; d > 0 {
				came = expand(came, members{p: d})
			}
		}
		if len(came) > 0 {
			sc.count[g] += len(came)
			sc.emit(Joined, g, came)
		}
	}
	if len(st) == 0 {
		delete(sc.remote, node)
		return
	}
	gs := make(map[string]members, len(st))
	for g, ms := range st {
		gs[g] = ms
	}
	sc.remote[node] = gs
}

// nodeDown removes the members of node, lost.
func (sc *Scope) nodeDown(node string) {
	sc.remoteSync(node, nil)
}

// Subscriptions returns how many subscriptions of the scope are open on
// this node.
func (sc *Scope) Subscriptions() int {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.nsubs
}
