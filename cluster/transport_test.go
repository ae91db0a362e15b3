package cluster_test

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// TestRemoteSignals: message, monitor, link, cancel and terminate between
// three nodes, each one seen from the other side.
func TestRemoteSignals(t *testing.T) {
	t.Parallel()
	a, b, c := cluster3(t)

	// A message from a to b keeps its payload exactly.
	pa := proctest.Spawn(t, a.node, host, nil)
	pb := proctest.Spawn(t, b.node, host, nil)
	payload := value.MustOf(map[string]any{"n": 1 << 60, "f": 0.5, "raw": []byte{0, 255}, "list": []any{"x", nil, true}})
	pa.Send(pb.PID.String(), "hello", payload)
	if m := pb.Next("hello"); m.From != pa.PID || !value.Equal(m.Payload, payload) {
		t.Fatalf("b got %v from %v", m.Payload, m.From)
	}

	// Monitor across nodes: c watches b's probe, which ends with an error.
	pc := proctest.Spawn(t, c.node, host, nil)
	pc.Monitor(pb.PID)
	pc.Send(pb.PID.String(), "sync", value.Nil()) // ordered after the monitor
	pb.Next("sync")
	pb.Exit(errors.New("boom"))
	r := pc.Await(pb.PID)
	var re *cluster.RemoteError
	if !errors.As(r.Err, &re) || re.Text != "boom" {
		t.Fatalf("remote EXIT reason %v (%T)", r.Err, r.Err)
	}
	// A monitor of an ended remote process is answered noproc.
	pc.Monitor(pb.PID)
	if r := pc.Await(pb.PID); !errors.Is(r.Err, process.ErrNoProc) {
		t.Fatalf("monitor of an ended remote process: %v", r.Err)
	}

	// Link: b's process fails, a's linked process (not trapping) ends with
	// link down, and the reason crosses.
	la := proctest.Spawn(t, a.node, host, nil)
	lb := proctest.Spawn(t, b.node, host, nil)
	var err error
	la.Run(func(p *process.Process) { err = p.Link(lb.PID) })
	if err != nil {
		t.Fatal(err)
	}
	wa := proctest.Spawn(t, a.node, host, nil)
	wa.Monitor(la.PID)
	// Signals from a to b keep their order: once b's process has the
	// message sent after the link, the link is in place.
	la.Send(lb.PID.String(), "sync", value.Nil())
	lb.Next("sync")
	_ = c.node.Terminate(lb.PID) // terminate across nodes, from a third node
	var ld *process.LinkDownError
	if r := wa.Await(la.PID); !errors.As(r.Err, &ld) || ld.PID != lb.PID || !errors.Is(r.Err, process.ErrTerminated) {
		t.Fatalf("a's linked process ended with %v", r.Err)
	}

	// Cancel across nodes: the target gets CANCEL with the reason.
	ta := proctest.Spawn(t, a.node, host, nil)
	if err := c.node.Cancel(pc.PID, ta.PID, "move along"); err != nil {
		t.Fatal(err)
	}
	if ev := ta.Event(); ev.Kind != process.EventCancel || ev.Reason != "move along" || ev.From != pc.PID {
		t.Fatalf("remote cancel gave %v %q from %v", ev.Kind, ev.Reason, ev.From)
	}

	// Unlink and demonitor: no event afterwards.
	ua := proctest.Spawn(t, a.node, host, nil)
	ub := proctest.Spawn(t, b.node, host, nil)
	ua.Run(func(p *process.Process) {
		p.SetTrapLinks(true)
		err = errors.Join(p.Link(ub.PID), p.Monitor(ub.PID))
	})
	if err != nil {
		t.Fatal(err)
	}
	ua.Run(func(p *process.Process) { err = errors.Join(p.Unlink(ub.PID), p.Unmonitor(ub.PID)) })
	if err != nil {
		t.Fatal(err)
	}
	ua.Send(ub.PID.String(), "sync", value.Nil())
	ub.Next("sync")
	hb, _ := b.node.Host(host)
	live := hb.Stats().Live
	ub.Exit(errors.New("gone"))
	// Once b counts its process ended, whatever its end sent a is queued
	// ahead of a marker sent now from b.
	poll.Until(t, timeout, "b's process ended", func() bool { return hb.Stats().Live == live-1 })
	marker := proctest.Spawn(t, b.node, host, nil)
	marker.Send(ua.PID.String(), "marker", value.Nil())
	ua.Next("marker")
	select {
	case ev := <-ua.Events:
		t.Fatalf("after unlink and unmonitor: %v from %v", ev.Kind, ev.From)
	default:
	}
}

// handler is a reactive process body made of two functions.
type handler struct {
	msg   func(process.Message)
	event func(process.Event)
}

func (h handler) HandleMessage(_ *process.Process, m process.Message) error { h.msg(m); return nil }
func (h handler) HandleEvent(_ *process.Process, e process.Event) error     { h.event(e); return nil }
func (h handler) Terminate(*process.Process, process.Result)                {}

// TestOrderPerPairUnderLoad: 100,000 messages from four senders on two
// nodes to a receiver on a third, each sender ending after its last
// message; the receiver, monitoring them all, gets each sender's messages
// in order and its EXIT last. Under this load signals share NATS messages.
func TestOrderPerPairUnderLoad(t *testing.T) {
	t.Parallel()
	// A heartbeat timeout that a loaded machine running -race cannot
	// miss: this test is about order, and a node taken for lost mid-run
	// drops what was in flight to it, by design.
	s := startNATS(t)
	patient := func() *cluster.Options {
		return &cluster.Options{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: 20 * time.Second}
	}
	a, b, c := startNode(t, s, "a", patient()), startNode(t, s, "b", patient()), startNode(t, s, "c", patient())
	waitPeers(t, a, b, c)
	const perSender = 25_000

	type entry struct {
		from  pid.PID
		exit  bool
		topic string
	}
	start := make(chan struct{})
	to := make(chan pid.PID, 1)
	var senders []pid.PID
	for i, n := range []*testNode{a, a, b, b} {
		id, err := n.node.Spawn(host, func(p *process.Process) (value.Value, error) {
			<-start
			recv := <-to
			to <- recv
			for j := range perSender {
				if err := p.Send(recv, strconv.Itoa(j), value.Int(int64(i))); err != nil {
					return value.Nil(), err
				}
			}
			return value.Nil(), nil
		}, process.SpawnOptions{})
		if err != nil {
			t.Fatal(err)
		}
		senders = append(senders, id)
	}

	var mu sync.Mutex
	var log []entry
	exits := make(chan struct{}, 4)
	// The receiver monitors the senders from its first instant (the
	// monitors cross to a and b). Should a sender end before its monitor
	// arrives, its EXIT (noproc) still comes after its messages.
	recv, err := c.node.SpawnReactive(host, handler{
		msg: func(m process.Message) {
			mu.Lock()
			log = append(log, entry{from: m.From, topic: m.Topic})
			mu.Unlock()
		},
		event: func(e process.Event) {
			mu.Lock()
			log = append(log, entry{from: e.From, exit: e.Kind == process.EventExit})
			mu.Unlock()
			exits <- struct{}{}
		},
	}, process.SpawnOptions{Watch: senders})
	if err != nil {
		t.Fatal(err)
	}
	to <- recv
	before := a.tr.Stats().BatchesOut + b.tr.Stats().BatchesOut
	close(start)
	// 100,000 messages under -race on a loaded machine take many seconds:
	// one generous deadline for all of them, not a short one per EXIT.
	deadline := time.After(6 * timeout)
	for range senders {
		select {
		case <-exits:
		case <-deadline:
			mu.Lock()
			t.Fatalf("the receiver got %d entries and not every EXIT", len(log))
		}
	}
	mu.Lock()
	defer mu.Unlock()
	next := map[pid.PID]int{}
	done := map[pid.PID]bool{}
	for i, e := range log {
		switch {
		case done[e.from]:
			t.Fatalf("entry %d: something from %v after its EXIT", i, e.from)
		case e.exit:
			if next[e.from] != perSender {
				t.Fatalf("entry %d: EXIT of %v after %d of its %d messages", i, e.from, next[e.from], perSender)
			}
			done[e.from] = true
		default:
			if e.topic != strconv.Itoa(next[e.from]) {
				t.Fatalf("entry %d: message %s from %v, want %d", i, e.topic, e.from, next[e.from])
			}
			next[e.from]++
		}
	}
	batches := a.tr.Stats().BatchesOut + b.tr.Stats().BatchesOut - before
	if signals := uint64(len(senders) * (perSender + 1)); batches*10 > signals {
		t.Errorf("%d signals took %d NATS messages: not batched", signals, batches)
	}
	t.Logf("%d messages and %d EXITs in %d NATS messages", len(senders)*perSender, len(senders), batches)
}

// TestSendToUnknownNodeFails: a node nobody has heard of is down.
func TestSendToUnknownNodeFails(t *testing.T) {
	t.Parallel()
	a, _, _ := cluster3(t)
	pr := proctest.Spawn(t, a.node, host, nil)
	var err error
	pr.Run(func(p *process.Process) {
		err = p.Send(pid.PID{Node: "nowhere", Host: host, ID: 7}, "x", value.Nil())
	})
	if !errors.Is(err, cluster.ErrNodeDown) {
		t.Fatalf("send to an unknown node: %v", err)
	}
}
