package observer

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wsrelay/wsrelay/cluster"
)

// Cluster is how an observer reaches the other nodes of its cluster: over
// the cluster's own NATS connection, with no port of its own.
type Cluster interface {
	// Nodes returns the other nodes this one knows, up or down.
	Nodes() []NodeState
	// Ask sends a request (a JSON Request) to the node's observer side
	// and returns its answer (Local.Answer there).
	Ask(ctx context.Context, node string, req []byte) ([]byte, error)
}

// NodeState is another node as its cluster link sees it.
type NodeState struct {
	Name     string
	Up       bool
	LastSeen time.Time
}

// AskTimeout bounds the wait for another node's answer.
const AskTimeout = 2 * time.Second

// MaxNodesShown bounds the other nodes an observer shows: those its
// cluster link lists (which keeps at most as many), and those it no
// longer lists, remembered as down while there is room, the latest
// heard first. Made-up heartbeats under ever new names would otherwise
// grow what the observer remembers, and every overview, without end.
const MaxNodesShown = 1024

// MaxAnswer bounds the bytes of an answer taken from another node.
const MaxAnswer = 4 << 20

// NodeView is one node of the cluster overview.
type NodeView struct {
	Name     string    `json:"name"`
	Self     bool      `json:"self,omitempty"`
	Up       bool      `json:"up"`
	LastSeen time.Time `json:"last_seen,omitzero"`
	Overview *Overview `json:"overview,omitempty"`
	Error    string    `json:"error,omitempty"` // why its overview is missing
}

// ClusterOverview is every node at a glance, this one first.
type ClusterOverview struct {
	Nodes []NodeView `json:"nodes"`
}

// NamesView lists the names of one node.
type NamesView struct {
	Node  string     `json:"node"`
	Names []NameView `json:"names,omitempty"`
	Total int        `json:"total"` // the names, when Names lists fewer
	Error string     `json:"error,omitempty"`
}

// view computes what a page asks for: this node's, or, through the
// cluster, the other nodes' too.
func (o *Observer) view(ctx context.Context, r Request) any {
	switch r.View {
	case "overview":
		return o.clusterOverview(ctx)
	case "names":
		return o.allNames(ctx)
	case "processes", "process", "crashes", "connections", "trace":
		if r.Query.Node != "" && r.Query.Node != o.local.Node.Name() {
			return o.remote(ctx, r)
		}
	}
	var v any
	if err := o.onCPU(ctx, func() { v = o.local.view(r) }); err != nil {
		return errorView{err.Error()}
	}
	return v
}

// onCPU runs f, a computation of this node's views, when no other one
// runs: views are computed on goroutines of their own (so that a node
// slow to answer delays only its own), but this node's walk its
// processes, and a page's view of 100,000 of them, times 32 pages, must
// not take every core from the node it observes.
func (o *Observer) onCPU(ctx context.Context, f func()) error {
	select {
	case o.cpu <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-o.cpu }()
	f()
	return nil
}

// remote asks the node of r.Query.Node for the view and passes its answer
// on as it is: bounded in bytes, valid JSON, and rendered by the pages as
// text like any other.
func (o *Observer) remote(ctx context.Context, r Request) any {
	if o.opts.Cluster == nil {
		return errorView{"this node is not in a cluster"}
	}
	if err := o.knownNode(r.Query.Node); err != nil {
		return errorView{err.Error()}
	}
	if r.View == "trace" && !o.local.Payloads {
		// Payloads are for observers with a token, here as there: not
		// asked for, and not passed on if the node sends them anyway.
		r.Query.Payloads = false
		var v TraceView
		if err := o.ask(ctx, r.Query.Node, r, &v); err != nil {
			return errorView{err.Error()}
		}
		withoutPayloads(v.Events)
		return v
	}
	var raw json.RawMessage
	if err := o.ask(ctx, r.Query.Node, r, &raw); err != nil {
		return errorView{err.Error()}
	}
	return raw
}

type errorView struct {
	Error string `json:"error"`
}

// knownNode refuses a node name the cluster link has not listed: a
// name from a page or a script becomes part of a NATS subject, where
// "a.b", "*" or ">" name a subject of the page's choosing rather than a
// node; and a name no node has would wait for AskTimeout to say so.
func (o *Observer) knownNode(name string) error {
	for _, n := range o.others() {
		if n.Name == name {
			return nil
		}
	}
	return fmt.Errorf("no node %q in the cluster", clip(name, 100))
}

// others returns the other nodes: those the cluster link knows, and those
// seen before that it no longer does (down).
func (o *Observer) others() []NodeState {
	if o.opts.Cluster == nil {
		return nil
	}
	nodes := o.opts.Cluster.Nodes()
	o.seenMu.Lock()
	defer o.seenMu.Unlock()
	known := map[string]bool{}
	for _, n := range nodes {
		known[n.Name] = true
		o.seen[n.Name] = n.LastSeen
	}
	var gone []NodeState
	for name, last := range o.seen {
		if !known[name] {
			gone = append(gone, NodeState{Name: name, LastSeen: last})
		}
	}
	nodes = nodes[:min(len(nodes), MaxNodesShown)]
	if room := MaxNodesShown - len(nodes); len(gone) > room {
		slices.SortFunc(gone, func(a, b NodeState) int { return b.LastSeen.Compare(a.LastSeen) })
		for _, n := range gone[room:] {
			delete(o.seen, n.Name)
		}
		gone = gone[:room]
	}
	return append(nodes, gone...)
}

// eachUp asks every other node that is up, in parallel, with ask(i, n),
// and returns the other nodes once every answer is in; a node that is
// down is not asked.
func (o *Observer) eachUp(ask func(i int, n NodeState)) []NodeState {
	others := o.others()
	var wg sync.WaitGroup
	for i, n := range others {
		if n.Up {
			wg.Go(func() { ask(i, n) })
		}
	}
	wg.Wait()
	return others
}

func (o *Observer) clusterOverview(ctx context.Context) ClusterOverview {
	var self Overview
	o.onCPU(ctx, func() { self = o.local.Overview() }) // the zero Overview once ctx ends
	out := ClusterOverview{Nodes: []NodeView{{Name: self.Node, Self: true, Up: true, Overview: &self}}}
	views := map[int]*Overview{}
	errs := map[int]error{}
	var mu sync.Mutex
	others := o.eachUp(func(i int, n NodeState) {
		var ov Overview
		err := o.ask(ctx, n.Name, Request{View: "overview"}, &ov)
		mu.Lock()
		views[i], errs[i] = &ov, err
		mu.Unlock()
	})
	var nodes []NodeView
	for i, n := range others {
		v := NodeView{Name: n.Name, Up: n.Up, LastSeen: n.LastSeen}
		switch {
		case !n.Up:
			v.Error = "down"
		case errs[i] != nil:
			v.Error = errs[i].Error()
		default:
			v.Overview = views[i]
		}
		nodes = append(nodes, v)
	}
	sortNodes(nodes)
	out.Nodes = append(out.Nodes, nodes...)
	return out
}

func (o *Observer) allNames(ctx context.Context) []NamesView {
	var out []NamesView
	o.onCPU(ctx, func() {
		out = []NamesView{o.local.Names()}
		if o.local.Global != nil {
			out = append(out, o.local.globalNames())
		}
	})
	answers := map[int]NamesView{}
	var mu sync.Mutex
	others := o.eachUp(func(i int, n NodeState) {
		var v NamesView
		if err := o.ask(ctx, n.Name, Request{View: "names"}, &v); err != nil {
			v = NamesView{Error: err.Error()}
		}
		v.Node = n.Name
		mu.Lock()
		answers[i] = v
		mu.Unlock()
	})
	for i, n := range others {
		v, ok := answers[i]
		if !ok {
			v = NamesView{Node: n.Name, Error: "down"}
		}
		out = append(out, v)
	}
	return out
}

// ask asks another node for a view and decodes its answer into v.
func (o *Observer) ask(ctx context.Context, node string, r Request, v any) error {
	req, _ := json.Marshal(r)
	ctx, cancel := context.WithTimeout(ctx, AskTimeout)
	defer cancel()
	b, err := o.opts.Cluster.Ask(ctx, node, req)
	if err != nil {
		return err
	}
	if len(b) > MaxAnswer {
		return errAnswerTooLarge
	}
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return &answerError{e.Error}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return &answerError{"an answer that is not the view asked for"}
	}
	return nil
}

type answerError struct{ msg string }

func (e *answerError) Error() string { return "the node answered: " + e.msg }

var errAnswerTooLarge = &answerError{"more than the answer bound"}

func sortNodes(v []NodeView) {
	slices.SortFunc(v, func(a, b NodeView) int { return strings.Compare(a.Name, b.Name) })
}

// askKind is the kind of question (cluster.Transport.Ask) observers ask
// other nodes.
const askKind = "observe"

// Answer makes a node of a cluster answer other nodes' observers with
// its views; the returned func stops it. Every node of a cluster should,
// so that an observer on any node sees them all.
func Answer(tr *cluster.Transport, l Local) (stop func(), err error) {
	l.Payloads = true // the asking observer keeps them off when it has no token
	return tr.Answer(askKind, l.Answer)
}

// Over is the Cluster of a node's cluster transport.
func Over(tr *cluster.Transport) Cluster { return transportCluster{tr} }

type transportCluster struct{ tr *cluster.Transport }

func (c transportCluster) Nodes() []NodeState {
	var out []NodeState
	for _, n := range c.tr.NodeStates() {
		out = append(out, NodeState{Name: n.Name, Up: n.Up, LastSeen: n.LastSeen})
	}
	return out
}

func (c transportCluster) Ask(ctx context.Context, node string, req []byte) ([]byte, error) {
	return c.tr.Ask(ctx, node, askKind, req)
}
