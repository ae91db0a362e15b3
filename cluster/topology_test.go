package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/process"
)

// jsTimeout bounds what waits for JetStream among routed servers: leader
// elections take seconds, more on a loaded machine.
const jsTimeout = 2 * time.Minute

// TestThreeServersLoseEachInTurn: three nodes, each on its own server of
// a NATS cluster (JetStream clustered, the names' bucket in three
// replicas). Each node in turn, the first started first, is lost without
// a goodbye, its server shut down with it. The survivors see it down,
// keep each other up and their names, register new names that both see,
// and the claim the lost node held is taken by exactly one of them. The
// lost node, back on its server (same store), rejoins: it sees the
// others, and its new name reaches them (its earlier run's names are
// released as it starts, as after any restart).
func TestThreeServersLoseEachInTurn(t *testing.T) {
	if testing.Short() {
		t.Skip("elects JetStream leaders among three servers, again and again")
	}
	c := natstest.StartCluster(t, 3)
	opts := fastOptions()
	opts.NamesReplicas = 3
	nodes := make([]*testNode, 3)
	names := make([]*cluster.Names, 3)
	join := func(i int) {
		poll.Until(t, jsTimeout, fmt.Sprintf("server %d current", i), func() bool { return c.Current(i) })
		tn, nm := joinNode(t, c.Servers[i].ClientURL(), string(rune('a'+i)), opts, nil, true)
		t.Cleanup(func() { tn.stop(t) })
		nodes[i], names[i] = tn, nm
	}
	for i := range nodes {
		join(i)
	}
	waitPeers(t, nodes...)
	// register names name for a new process of node i, retrying while
	// JetStream elects a leader; every node in on sees it.
	register := func(i int, name string, on ...int) {
		t.Helper()
		p := proctest.Spawn(t, nodes[i].node, host, nil)
		poll.Until(t, jsTimeout, "register "+name, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return names[i].Register(ctx, name, p.PID) == nil
		})
		for _, j := range on {
			poll.Until(t, jsTimeout, fmt.Sprintf("%s sees %s", nodes[j].name, name), func() bool {
				got, ok := names[j].LookupName(name)
				return ok && got == p.PID
			})
		}
	}
	kept := make([]string, 3) // a name of a process of each node's current run
	for i := range nodes {
		kept[i] = "kept-" + nodes[i].name
		register(i, kept[i], 0, 1, 2)
	}

	for k := range nodes {
		lost := nodes[k].name
		live := slices.DeleteFunc([]int{0, 1, 2}, func(i int) bool { return i == k })
		for _, i := range []int{0, 1, 2} {
			poll.Until(t, jsTimeout, fmt.Sprintf("server %d current", i), func() bool { return c.Current(i) })
		}
		holder := proctest.Spawn(t, nodes[k].node, host, nil)
		claim := "{service}held-by-" + lost
		poll.Until(t, jsTimeout, lost+" claims", func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return names[k].Claim(ctx, claim, holder.PID) == nil
		})
		for _, i := range live {
			poll.Until(t, jsTimeout, nodes[i].name+" sees the claim", func() bool {
				_, ok := names[i].LookupName(claim)
				return ok
			})
		}

		nodes[k].nc.Close() // lost without a goodbye...
		c.Stop(k)           // ...its server with it

		for _, i := range live {
			poll.Until(t, jsTimeout, nodes[i].name+" sees "+lost+" down", func() bool {
				return !slices.Contains(nodes[i].tr.Peers(), lost)
			})
		}
		waitPeers(t, nodes[live[0]], nodes[live[1]])
		for _, i := range live {
			for _, j := range live {
				if _, ok := names[i].LookupName(kept[j]); !ok {
					t.Fatalf("after %s was lost, %s lost the name %s of %s's process", lost, nodes[i].name, kept[j], nodes[j].name)
				}
			}
		}
		register(live[0], "after-"+lost, live...)
		// The claim resolves nowhere at once; it is released in the
		// bucket, then taken by exactly one survivor.
		for _, i := range live {
			if _, ok := names[i].LookupName(claim); ok {
				t.Fatalf("after %s was lost, %s resolves its claim", lost, nodes[i].name)
			}
			poll.Until(t, jsTimeout, nodes[i].name+" sees "+lost+"'s claim released", func() bool {
				_, ok := names[i].Holder(claim)
				return !ok
			})
		}
		var mu sync.Mutex
		won := 0
		var wg sync.WaitGroup
		for _, i := range live {
			p := proctest.Spawn(t, nodes[i].node, host, nil)
			wg.Go(func() {
				for {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					err := names[i].Claim(ctx, claim, p.PID)
					cancel()
					if err == nil || errors.Is(err, process.ErrNameTaken) {
						mu.Lock()
						won += map[bool]int{true: 1}[err == nil]
						mu.Unlock()
						return
					}
				}
			})
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("after %s was lost, %d survivors took its claim, want 1", lost, won)
		}

		c.Start(k)
		join(k)
		waitPeers(t, nodes...)
		kept[k] = "back-" + lost // its earlier run's names were released as it started
		register(k, kept[k], 0, 1, 2)
	}
}

// TestTwoServersKeepNamesOnTheBucketsServer: two nodes on two routed
// servers, the names' bucket in one copy (JetStream cannot keep two with
// a majority of two). The node whose server does not hold the bucket is
// lost, its server with it: the other node sees it down and still
// registers names, which its processes' lookups find.
func TestTwoServersKeepNamesOnTheBucketsServer(t *testing.T) {
	if testing.Short() {
		t.Skip("elects JetStream leaders among two servers")
	}
	c := natstest.StartCluster(t, 2)
	nodes := make([]*testNode, 2)
	names := make([]*cluster.Names, 2)
	for i := range nodes {
		poll.Until(t, jsTimeout, fmt.Sprintf("server %d current", i), func() bool { return c.Current(i) })
		tn, nm := joinNode(t, c.Servers[i].ClientURL(), string(rune('a'+i)), nil, nil, true)
		t.Cleanup(func() { tn.stop(t) })
		nodes[i], names[i] = tn, nm
	}
	waitPeers(t, nodes...)
	js, err := jetstream.New(nodes[0].nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	s, err := js.Stream(ctx, "KV_wsrelay_names")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.Cluster == nil {
		t.Fatalf("the bucket's stream: %+v, %v", info, err)
	}
	keep := slices.Index([]string{"s0", "s1"}, info.Cluster.Leader)
	if keep < 0 || len(info.Cluster.Replicas) != 0 {
		t.Fatalf("the bucket is on %q with %d other copies; want s0 or s1, alone", info.Cluster.Leader, len(info.Cluster.Replicas))
	}
	lost := 1 - keep

	nodes[lost].nc.Close()
	c.Stop(lost)
	poll.Until(t, jsTimeout, "the survivor sees the lost node down", func() bool {
		return !slices.Contains(nodes[keep].tr.Peers(), nodes[lost].name)
	})
	p := proctest.Spawn(t, nodes[keep].node, host, nil)
	poll.Until(t, jsTimeout, "the survivor registers a name", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return names[keep].Register(ctx, "after-the-loss", p.PID) == nil
	})
	if got, ok := names[keep].LookupName("after-the-loss"); !ok || got != p.PID {
		t.Fatalf("lookup after the loss: %v %v", got, ok)
	}
}
