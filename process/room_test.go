package process_test

import (
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// gate is a blocking process that takes one message from its mailbox
// each time the test tells it to, so the test decides when room appears.
type gate struct {
	pid  pid.PID
	take chan int // how many messages to take
	took chan struct{}
	end  chan struct{}
}

func spawnGate(t *testing.T, n *process.Node) *gate {
	t.Helper()
	g := &gate{take: make(chan int), took: make(chan struct{}), end: make(chan struct{})}
	id, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		for {
			select {
			case k := <-g.take:
				for range k {
					if _, ok := p.Receive(p.Context()); !ok {
						return value.Nil(), nil
					}
				}
				g.took <- struct{}{}
			case <-g.end:
				return value.Nil(), nil
			case <-p.EventsReady(): // cancelled: the node shuts down
				return value.Nil(), nil
			case <-p.Context().Done():
				return value.Nil(), nil
			}
		}
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g.pid = id
	return g
}

// receive makes the gate take k messages and waits until it has.
func (g *gate) receive(k int) {
	g.take <- k
	<-g.took
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestReceiptTellsWhenTaken: a sender learns when the receiver has taken
// its message, and when the receiver ended without taking it.
func TestReceiptTellsWhenTaken(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	g := spawnGate(t, n)
	var rs []process.Receipt
	for range 3 {
		r, err := n.TrySend(pid.PID{}, g.pid, "m", value.Int(1))
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	second := rs[1].Done()
	if rs[0].Taken() || closed(second) {
		t.Fatal("a message nobody received counts as taken")
	}
	g.receive(1)
	<-rs[0].Done()
	if !rs[0].Taken() || rs[1].Taken() || closed(second) {
		t.Fatalf("after one receive: taken %v %v", rs[0].Taken(), rs[1].Taken())
	}
	g.receive(1)
	<-second
	close(g.end) // the third is never received: dropped when the gate ends
	<-rs[2].Done()
	if !rs[2].Taken() {
		t.Fatal("a message dropped with its receiver is not taken")
	}
	// To nobody: nothing to wait for.
	r, err := n.TrySend(pid.PID{}, g.pid, "m", value.Int(1))
	if err != nil || !r.Taken() || !closed(r.Done()) {
		t.Fatalf("a message to an ended process: %v %v", err, r.Taken())
	}
}

// TestMailboxRoom: a sender refused by a full mailbox waits for room
// instead of polling, and is woken when the receiver ends.
func TestMailboxRoom(t *testing.T) {
	t.Parallel()
	n := newNode(t, &process.HostOptions{MailboxSize: 8}, nil)
	g := spawnGate(t, n)
	for range 8 {
		if _, err := n.TrySend(pid.PID{}, g.pid, "m", value.Nil()); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := n.TrySend(pid.PID{}, g.pid, "m", value.Nil()); err == nil {
		t.Fatal("a full mailbox took a message")
	}
	half := n.MailboxRoom(g.pid, 0) // below 4
	g.receive(2)                    // 6 left
	if closed(half) {
		t.Fatal("woken for room below 4 with 6 messages waiting")
	}
	if ch := n.MailboxRoom(g.pid, 8); !closed(ch) {
		t.Fatal("room below 8 with 6 waiting is not there at once")
	}
	// Waiters share one wake-up, at the highest bound; each checks again.
	six := n.MailboxRoom(g.pid, 6)
	if closed(six) {
		t.Fatal("room below 6 with 6 waiting")
	}
	g.receive(1) // 5 left
	<-six
	if half = n.MailboxRoom(g.pid, 0); closed(half) {
		t.Fatal("room below 4 with 5 messages waiting")
	}
	g.receive(1) // 4 left
	if closed(half) {
		t.Fatal("woken for room below 4 with 4 messages waiting")
	}
	g.receive(1) // 3 left
	<-half
	// A receiver that ends wakes whoever waits for its room.
	ended := n.MailboxRoom(g.pid, 1)
	close(g.end)
	<-ended
	if ch := n.MailboxRoom(g.pid, 1); !closed(ch) {
		t.Fatal("waiting for room in an ended process's mailbox")
	}
}
