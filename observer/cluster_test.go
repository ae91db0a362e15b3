package observer_test

import (
	"context"
	"testing"

	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/observer"
	"github.com/wsrelay/wsrelay/process"
)

// TestObserverSeesTheCluster: the observer on node a shows node b's
// overview, processes and names, asked over the cluster's NATS; once b
// leaves, b shows as down, not as an error.
func TestObserverSeesTheCluster(t *testing.T) {
	s := natstest.Start(t, false)
	join := func(name string) (*process.Node, *clustertest.Member) {
		m := clustertest.Join(t, s.ClientURL(), name, nil)
		node, err := process.NewNode(&process.Options{Name: name, Transport: m.Transport})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := node.AddHost("app", nil); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { node.Shutdown(context.Background()) })
		m.Start(t, node, false)
		stop, err := observer.Answer(m.Transport, observer.Local{Node: node})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		return node, m
	}
	nodeA, a := join("a")
	nodeB, b := join("b")
	poll.Until(t, timeout, "the nodes see each other", func() bool { return a.Transport.IsUp("b") && b.Transport.IsUp("a") })
	waiter(t, nodeB, "only-on-b")
	o, err := observer.Start(observer.Options{Addr: "127.0.0.1:0", Node: nodeA, Cluster: observer.Over(a.Transport)})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(context.Background())
	base := "http://" + o.Addr()

	var ov observer.ClusterOverview
	getJSON(t, base+"/api/overview", &ov)
	if len(ov.Nodes) != 2 || ov.Nodes[0].Name != "a" || !ov.Nodes[0].Self || ov.Nodes[1].Name != "b" || !ov.Nodes[1].Up ||
		ov.Nodes[1].Overview == nil || ov.Nodes[1].Overview.Node != "b" || ov.Nodes[1].Overview.Processes < 1 {
		t.Fatalf("the cluster overview: %+v", ov)
	}
	var page observer.ProcessPage
	getJSON(t, base+"/api/processes?node=b&q=only-on-b", &page)
	if page.Total != 1 || page.Rows[0].Names[0] != "only-on-b" {
		t.Fatalf("b's processes from a: %+v", page)
	}
	var names []observer.NamesView
	getJSON(t, base+"/api/names", &names)
	if len(names) != 2 || names[1].Node != "b" || len(names[1].Names) != 1 || names[1].Names[0].Name != "only-on-b" {
		t.Fatalf("names of both nodes: %+v", names)
	}

	b.Close() // b says goodbye and leaves the cluster
	poll.Until(t, timeout, "b shown as down", func() bool {
		getJSON(t, base+"/api/overview", &ov)
		return len(ov.Nodes) == 2 && !ov.Nodes[1].Up && ov.Nodes[1].Error == "down"
	})
	getJSON(t, base+"/api/processes?node=b", &struct{}{}) // an answer, not a failed request
}
