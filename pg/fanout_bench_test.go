package pg_test

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// counter is a member that counts what it gets; the one that makes the
// count reach want signals done.
type counter struct {
	got  *atomic.Int64
	want *atomic.Int64
	done chan struct{}
}

func (c counter) HandleMessage(*process.Process, process.Message) error {
	if c.got.Add(1) == c.want.Load() {
		c.done <- struct{}{}
	}
	return nil
}
func (c counter) HandleEvent(*process.Process, process.Event) error { return nil }
func (c counter) Terminate(*process.Process, process.Result)        {}

// BenchmarkFanout broadcasts to a group of 18,000 members spread over 1,
// 2 or 3 nodes, with pg (one message per node) and with a loop sending to
// each member, and reports the time until the last member has the
// message (p50, p99) and the NATS messages and bytes per broadcast.
func BenchmarkFanout(b *testing.B) {
	const members = 18_000
	for _, n := range []int{1, 2, 3} {
		for _, how := range []string{"pg", "sendloop"} {
			b.Run(fmt.Sprintf("nodes=%d/%s", n, how), func(b *testing.B) { fanout(b, n, members, how == "pg") })
		}
	}
}

func fanout(b *testing.B, n, members int, usePG bool) {
	s := natstest.Start(b, false)
	var nodes []*testNode
	for i := range n {
		nodes = append(nodes, joinCluster(b, s, string(rune('a'+i))))
	}
	waitPeers(b, nodes...)
	var got, want atomic.Int64
	done := make(chan struct{}, 1)
	var all []pid.PID
	for i := range members {
		nd := nodes[i%n]
		p, err := nd.node.SpawnReactive(host, counter{got: &got, want: &want, done: done}, process.SpawnOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := nd.scope.Join(p, "room"); err != nil {
			b.Fatal(err)
		}
		all = append(all, p)
	}
	for _, nd := range nodes {
		poll.Until(b, time.Minute, "every node sees every member", func() bool { return len(nd.scope.Members("room")) == members })
	}
	watch, err := nats.Connect(s.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer watch.Close()
	var msgs, bytes atomic.Int64
	sub, err := watch.Subscribe("wsrelay.node.*", func(m *nats.Msg) { msgs.Add(1); bytes.Add(int64(len(m.Data))) })
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = watch.Flush()
	a := nodes[0]
	var lat []time.Duration
	var dropped int64
	payload := value.String("a message of some forty bytes, give or take")
	b.ResetTimer()
	for b.Loop() {
		select {
		case <-done: // a late signal of the last round
		default:
		}
		want.Add(int64(members))
		start := time.Now()
		failed := int64(0)
		if usePG {
			if err := a.scope.Broadcast(pid.PID{}, "room", "news", payload); err != nil {
				b.Fatal(err)
			}
		} else {
			for _, p := range all {
				if a.node.Send(pid.PID{}, p, "news", payload) != nil {
					failed++ // the queue toward a node is full: dropped
				}
			}
		}
		dropped += failed
		if want.Add(-failed); got.Load() < want.Load() {
			<-done
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	_ = watch.Flush()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(msgs.Load())/float64(len(lat)), "nats-msgs/op")
	b.ReportMetric(float64(bytes.Load())/float64(len(lat)), "nats-bytes/op")
	b.ReportMetric(float64(dropped)/float64(len(lat)), "dropped/op")
}
