package pg_test

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/pg"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const (
	host    = "app:processes"
	scope   = "app:pg"
	timeout = 30 * time.Second
)

// testNode is a node with its process groups, alone or in a cluster.
type testNode struct {
	name  string
	node  *process.Node
	svc   *pg.Service
	scope *pg.Scope
	tr    *cluster.Transport
	nc    *nats.Conn
}

func newNode(t testing.TB, name string, tr *cluster.Transport, opts pg.ScopeOptions) *testNode {
	t.Helper()
	popts := &process.Options{Name: name}
	if tr != nil {
		popts.Transport = tr
	}
	n, err := process.NewNode(popts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.AddHost(host, &process.HostOptions{MailboxSize: 1 << 16}); err != nil {
		t.Fatal(err)
	}
	tn := &testNode{name: name, node: n, tr: tr}
	return tn.withService(t, opts)
}

func (tn *testNode) withService(t testing.TB, opts pg.ScopeOptions) *testNode {
	t.Helper()
	po := pg.Options{Node: tn.node}
	if tn.tr != nil {
		po.Carrier = tn.tr
	}
	svc, err := pg.New(po)
	if err != nil {
		t.Fatal(err)
	}
	tn.svc = svc
	if tn.scope, err = svc.AddScope(scope, opts); err != nil {
		t.Fatal(err)
	}
	if tn.tr != nil {
		tn.tr.SetGroups(svc)
	}
	return tn
}

// single is a node without a cluster, shut down when the test ends.
func single(t testing.TB, opts pg.ScopeOptions) *testNode {
	t.Helper()
	tn := newNode(t, "solo", nil, opts)
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

func (tn *testNode) stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	tn.svc.Close()
	if err := tn.node.Shutdown(ctx); err != nil {
		t.Errorf("node %s: %v", tn.name, err)
	}
	if tn.tr != nil {
		_ = tn.tr.Close()
		tn.nc.Close()
	}
}

// joinCluster starts a node named name on the NATS server s.
func joinCluster(t testing.TB, s *server.Server, name string) *testNode {
	t.Helper()
	return joinClusterAt(t, s.ClientURL(), name)
}

// joinClusterAt is joinCluster through the NATS at url (a proxy, say).
func joinClusterAt(t testing.TB, url, name string) *testNode {
	t.Helper()
	m := clustertest.Join(t, url, name, nil)
	tn := newNode(t, name, m.Transport, pg.ScopeOptions{})
	tn.nc = m.Conn
	m.Start(t, tn.node, false)
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

// cluster3 starts three nodes, a, b and c, and waits until each sees the
// others.
func cluster3(t testing.TB) (*server.Server, []*testNode) {
	t.Helper()
	s := natstest.Start(t, false)
	nodes := []*testNode{joinCluster(t, s, "a"), joinCluster(t, s, "b"), joinCluster(t, s, "c")}
	waitPeers(t, nodes...)
	return s, nodes
}

func waitPeers(t testing.TB, nodes ...*testNode) {
	t.Helper()
	poll.Until(t, timeout, "every node sees the others", func() bool {
		for _, n := range nodes {
			for _, o := range nodes {
				if o != n && !n.tr.IsUp(o.name) {
					return false
				}
			}
		}
		return true
	})
}

// sorted returns the PIDs as sorted text.
func sorted(ps []pid.PID) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	sort.Strings(out)
	return out
}

// waitMembers waits until every node sees want as the members of group.
func waitMembers(t testing.TB, group string, want []pid.PID, nodes ...*testNode) {
	t.Helper()
	w := sorted(want)
	for _, n := range nodes {
		poll.Until(t, timeout, "node "+n.name+" sees the members of "+group, func() bool {
			return slices.Equal(sorted(n.scope.Members(group)), w)
		})
	}
}

// nextEvent waits for the next event of sub.
func nextEvent(t testing.TB, sub *pg.Subscription) pg.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		e, ok, closed := sub.Next()
		if ok {
			return e
		}
		if closed {
			t.Fatal("the subscription ended")
		}
		select {
		case <-sub.Ready():
		case <-deadline:
			t.Fatal("no event came")
		}
	}
}

// noEvent checks that sub holds no event now.
func noEvent(t testing.TB, sub *pg.Subscription) {
	t.Helper()
	if e, ok, _ := sub.Next(); ok {
		t.Fatalf("unexpected event %s %s %v", e.Kind, e.Group, e.PIDs)
	}
}
