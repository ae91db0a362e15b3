package observer

import (
	"context"
	"encoding/json"
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
	case "processes", "crashes", "connections", "trace":
		if r.Query.Node != "" && r.Query.Node != o.local.Node.Name() {
			return o.remote(ctx, r)
		}
	}
	return o.local.view(r)
}

// remote asks the node of r.Query.Node for the view and passes its answer
// on as it is: bounded in bytes, valid JSON, and rendered by the pages as
// text like any other.
func (o *Observer) remote(ctx context.Context, r Request) any {
	if o.opts.Cluster == nil {
		return errorView{"this node is not in a cluster"}
	}
	if r.View == "trace" && !o.local.Payloads {
		r.Query.Payloads = false // payloads are for observers with a token, here as there
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
	for name, last := range o.seen {
		if !known[name] {
			nodes = append(nodes, NodeState{Name: name, LastSeen: last})
		}
	}
	return nodes
}

func (o *Observer) clusterOverview(ctx context.Context) ClusterOverview {
	self := o.local.Overview()
	out := ClusterOverview{Nodes: []NodeView{{Name: self.Node, Self: true, Up: true, Overview: &self}}}
	others := o.others()
	views := make([]NodeView, len(others))
	var wg sync.WaitGroup
	for i, n := range others {
		views[i] = NodeView{Name: n.Name, Up: n.Up, LastSeen: n.LastSeen}
		if !n.Up {
			views[i].Error = "down"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ov Overview
			if err := o.ask(ctx, n.Name, Request{View: "overview"}, &ov); err != nil {
				views[i].Error = err.Error()
				return
			}
			views[i].Overview = &ov
		}()
	}
	wg.Wait()
	sortNodes(views)
	out.Nodes = append(out.Nodes, views...)
	return out
}

func (o *Observer) allNames(ctx context.Context) []NamesView {
	out := []NamesView{{Node: o.local.Node.Name(), Names: o.local.Names()}}
	if o.local.Global != nil {
		out = append(out, NamesView{Node: "cluster", Names: o.local.Global()})
	}
	others := o.others()
	views := make([]NamesView, len(others))
	var wg sync.WaitGroup
	for i, n := range others {
		views[i].Node = n.Name
		if !n.Up {
			views[i].Error = "down"
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := o.ask(ctx, n.Name, Request{View: "names"}, &views[i].Names); err != nil {
				views[i].Error = err.Error()
			}
		}()
	}
	wg.Wait()
	return append(out, views...)
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
