package cluster_test

import (
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// echo spawns a reactive process on n that answers every message to its
// sender with the same payload.
func echo(b *testing.B, n *process.Node) pid.PID {
	b.Helper()
	id, err := n.SpawnReactive(host, echoHandler{}, process.SpawnOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return id
}

type echoHandler struct{}

func (echoHandler) HandleMessage(p *process.Process, m process.Message) error {
	_ = p.Send(m.From, "echo", m.Payload)
	return nil
}
func (echoHandler) HandleEvent(*process.Process, process.Event) error { return nil }
func (echoHandler) Terminate(*process.Process, process.Result)        {}

// BenchmarkRoundTrip: one message to an echo process and its answer back,
// one at a time; "local" has the echo on the sender's node, "remote" on
// another node through an in-process NATS server.
func BenchmarkRoundTrip(b *testing.B) {
	s := startNATS(b)
	a, c := startNode(b, s, "a", nil), startNode(b, s, "c", nil)
	waitPeers(b, a, c)
	payload := value.MustOf(map[string]any{"text": "hello there", "seq": 1})
	for _, bc := range []struct {
		name string
		on   *testNode
	}{{"local", a}, {"remote", c}} {
		b.Run(bc.name, func(b *testing.B) {
			target := echo(b, bc.on.node)
			rt := make(chan struct{})
			id, err := a.node.Spawn(host, func(p *process.Process) (value.Value, error) {
				for range rt {
					if err := p.Send(target, "ping", payload); err != nil {
						return value.Nil(), err
					}
					if _, ok := p.Receive(p.Context()); !ok {
						return value.Nil(), nil
					}
					rt <- struct{}{}
				}
				return value.Nil(), nil
			}, process.SpawnOptions{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				rt <- struct{}{}
				<-rt
			}
			close(rt)
			_ = a.node.Terminate(id)
			_ = bc.on.node.Terminate(target)
		})
	}
}

// BenchmarkOneWay: messages sent as fast as possible to a process on
// another node, in windows of 4096 that the sender waits to see received
// (delivery between nodes is at most once: without a window, a receiver
// that falls behind has NATS drop batches). An op is one message
// delivered; msgs/batch is how many shared a NATS message.
func BenchmarkOneWay(b *testing.B) {
	s := startNATS(b)
	a, c := startNode(b, s, "a", nil), startNode(b, s, "c", nil)
	waitPeers(b, a, c)
	const window = 4096
	got := make(chan struct{}, 1)
	n := 0
	recv, err := c.node.SpawnReactive(host, handler{
		msg: func(m process.Message) {
			if n++; m.Topic == "last" {
				got <- struct{}{}
			}
		},
		event: func(process.Event) {},
	}, process.SpawnOptions{})
	if err != nil {
		b.Fatal(err)
	}
	payload := value.String("a message of about fifty bytes, like a chat line")
	before := a.tr.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for sent := 0; sent < b.N; {
		k := min(window, b.N-sent)
		for i := range k {
			topic := "m"
			if i == k-1 {
				topic = "last"
			}
			if err := a.node.Send(pid.PID{}, recv, topic, payload); err != nil {
				b.Fatal(err)
			}
		}
		sent += k
		<-got
	}
	b.StopTimer()
	after := a.tr.Stats()
	if n != b.N {
		b.Fatalf("%d of %d messages arrived", n, b.N)
	}
	if batches := after.BatchesOut - before.BatchesOut; batches > 0 {
		b.ReportMetric(float64(after.SignalsOut-before.SignalsOut)/float64(batches), "msgs/batch")
	}
}

// BenchmarkOneWayWithReceipts: messages to a process on another node sent
// with a receipt each, at most window of them in flight (not yet taken),
// as the relay sends a client's frames. An op is one message taken;
// answers/msg is how many answers (taken signals) came back per message:
// they are coalesced per sender/receiver pair.
func BenchmarkOneWayWithReceipts(b *testing.B) {
	s := startNATS(b)
	a, c := startNode(b, s, "a", nil), startNode(b, s, "c", nil)
	waitPeers(b, a, c)
	const window = 256
	n := 0
	recv, err := c.node.SpawnReactive(host, handler{
		msg:   func(process.Message) { n++ },
		event: func(process.Event) {},
	}, process.SpawnOptions{})
	if err != nil {
		b.Fatal(err)
	}
	sender, err := a.node.Spawn(host, func(p *process.Process) (value.Value, error) {
		<-p.Context().Done()
		return value.Nil(), nil
	}, process.SpawnOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer a.node.Terminate(sender)
	payload := value.String("a message of about fifty bytes, like a chat line")
	flight := make([]process.Receipt, 0, window)
	before := a.tr.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if len(flight) == window {
			<-flight[0].Done()
			k := 1
			for k < len(flight) && flight[k].Taken() {
				k++
			}
			flight = append(flight[:0], flight[k:]...)
		}
		r, err := a.node.TrySend(sender, recv, "m", payload)
		if err != nil {
			b.Fatal(err)
		}
		flight = append(flight, r)
	}
	for _, r := range flight {
		<-r.Done()
	}
	b.StopTimer()
	after := a.tr.Stats()
	if n != b.N {
		b.Fatalf("%d of %d messages arrived", n, b.N)
	}
	b.ReportMetric(float64(after.SignalsIn-before.SignalsIn)/float64(b.N), "answers/msg")
}
