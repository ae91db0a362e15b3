package pg_test

import (
	"testing"

	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/pg"
)

// BenchmarkConvergence measures how long a join on one node takes to be
// seen on the two others (an event on their monitors), then the same for
// the leave: one op is a join and a leave, each seen everywhere.
func BenchmarkConvergence(b *testing.B) {
	s := natstest.Start(b, false)
	nodes := []*testNode{joinCluster(b, s, "a"), joinCluster(b, s, "b"), joinCluster(b, s, "c")}
	waitPeers(b, nodes...)
	p := proctest.Spawn(b, nodes[0].node, host, nil)
	var subs []*pg.Subscription
	for _, n := range nodes[1:] {
		sub, _, err := n.scope.Monitor("g")
		if err != nil {
			b.Fatal(err)
		}
		defer sub.Close()
		subs = append(subs, sub)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := nodes[0].scope.Join(p.PID, "g"); err != nil {
			b.Fatal(err)
		}
		for _, sub := range subs {
			if e := nextEvent(b, sub); e.Kind != pg.Joined {
				b.Fatalf("event %s", e.Kind)
			}
		}
		if err := nodes[0].scope.Leave(p.PID, "g"); err != nil {
			b.Fatal(err)
		}
		for _, sub := range subs {
			if e := nextEvent(b, sub); e.Kind != pg.Left {
				b.Fatalf("event %s", e.Kind)
			}
		}
	}
}
