package cluster

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
)

// TestBacklogKeepsEndsOfRelations: a queue toward a node that is full of
// messages refuses more messages and new monitors, but still takes the
// EXIT of a monitored process (and the other ends of relations): refused,
// it would be lost for good, and its watcher would wait forever.
func TestBacklogKeepsEndsOfRelations(t *testing.T) {
	tr := &Transport{opts: Options{Cluster: "c", MaxBatch: 4096, MaxPending: 1024}}
	tr.hdr = appendHeader(nil, "a", 1, 0)
	p := newPeer(tr, "b")
	msg := transport.Signal{Kind: transport.SigMessage, From: wa, To: wb, Topic: "t", Payload: value.String("012345678901234567890123456789012345678")} // 85 bytes: 12 fill 1020 of 1024
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		err = p.enqueue(tr, msg)
	}
	if !errors.Is(err, ErrBacklog) {
		t.Fatalf("messages past MaxPending: %v, want ErrBacklog", err)
	}
	if err := p.enqueue(tr, transport.Signal{Kind: transport.SigMonitor, From: wa, To: wb}); !errors.Is(err, ErrBacklog) {
		t.Fatalf("a monitor past MaxPending: %v, want ErrBacklog (its caller hears of it)", err)
	}
	for _, k := range []transport.SignalKind{transport.SigExit, transport.SigLinkExit, transport.SigDemonitor, transport.SigUnlink} {
		if err := p.enqueue(tr, transport.Signal{Kind: k, From: wa, To: wb, Result: transport.Result{Err: process.ErrTerminated}}); err != nil {
			t.Errorf("signal kind %d past MaxPending: %v, want it queued", k, err)
		}
	}
	// Answers to receipts go past MaxPending too, up to twice it.
	taken := transport.Signal{Kind: transport.SigTaken, From: wa, To: wb, Seq: 1}
	if err := p.enqueue(tr, taken); err != nil {
		t.Fatalf("an answer past MaxPending: %v, want it queued", err)
	}
	for i := 0; i < 1000 && err == nil; i++ {
		err = p.enqueue(tr, taken)
	}
	if !errors.Is(err, ErrBacklog) || p.pending > 2*tr.opts.MaxPending {
		t.Fatalf("answers past twice MaxPending: %v with %d bytes waiting, want ErrBacklog at %d", err, p.pending, 2*tr.opts.MaxPending)
	}
}

// TestNothingQueuedForADownNode: a signal that reaches the queue of a node
// after the node was taken down (Deliver saw it up a moment before) is
// refused, not sent after the loss was handled (a monitor whose watcher
// was told noconnection already would stay on the target for good); once
// the node is admitted again, signals are queued again.
func TestNothingQueuedForADownNode(t *testing.T) {
	tr := &Transport{opts: Options{Cluster: "c", MaxBatch: 4096, MaxPending: 1 << 20}, log: slog.New(slog.DiscardHandler)}
	tr.hdr = appendHeader(nil, "a", 1, 0)
	p := newPeer(tr, "b")
	tr.admit(p, 5)
	mon := transport.Signal{Kind: transport.SigMonitor, From: wa, To: wb}
	if err := p.enqueue(tr, mon); err != nil {
		t.Fatal(err)
	}
	tr.markDown(p)
	p.drop(tr)
	if err := p.enqueue(tr, mon); !errors.Is(err, ErrNodeDown) {
		t.Fatalf("a monitor queued for a node taken down: %v, want ErrNodeDown", err)
	}
	if p.pending != 0 {
		t.Fatalf("%d bytes wait for a node that is down", p.pending)
	}
	tr.admit(p, 6)
	if err := p.enqueue(tr, mon); err != nil {
		t.Fatalf("a monitor for the node admitted again: %v", err)
	}
}

// TestBacklogRefusalMeansWait: whenever the queue toward a node refuses a
// signal with ErrBacklog, Room is not ready yet, so a sender that waits on
// Room then tries again (the relay) does not spin; a signal bigger than
// MaxPending still goes once the queue has drained.
func TestBacklogRefusalMeansWait(t *testing.T) {
	tr := &Transport{opts: Options{Cluster: "c", MaxBatch: 4096, MaxPending: 1024}}
	tr.hdr = appendHeader(nil, "a", 1, 0)
	p := newPeer(tr, "b")
	big := transport.Signal{Kind: transport.SigMessage, From: wa, To: wb, Topic: "t", Payload: value.String(strings.Repeat("x", 3000))}
	if err := p.enqueue(tr, big); err != nil {
		t.Fatalf("a %d-byte signal into an empty queue (MaxPending 1024): %v", len(appendSignal(nil, big)), err)
	}
	small := transport.Signal{Kind: transport.SigMessage, From: wa, To: wb, Topic: "t", Payload: value.String("0123456789")}
	p.drop(tr)
	for i := 0; i < 1000; i++ {
		for _, s := range []transport.Signal{small, big} {
			if err := p.enqueue(tr, s); errors.Is(err, ErrBacklog) {
				select {
				case <-p.roomChan(tr):
					t.Fatalf("refused with ErrBacklog while Room is ready (%d bytes waiting)", p.pending)
				default:
				}
			}
		}
	}
}

// TestTellLost: the nodes up hear kindLost when NATS has dropped batches
// for this node since the last look (it cannot tell whose), and a node a
// publish to failed hears it once; otherwise nobody does.
func TestTellLost(t *testing.T) {
	tr := &Transport{opts: Options{Cluster: "c", MaxBatch: 4096, MaxPending: 1 << 20}, log: slog.New(slog.DiscardHandler), peers: map[string]*peer{}}
	tr.hdr = appendHeader(nil, "a", 1, 0)
	dropped := 0
	tr.droppedBatches = func() int { return dropped }
	b, c := newPeer(tr, "b"), newPeer(tr, "c")
	tr.peers["b"], tr.peers["c"] = b, c
	tr.admit(b, 5)
	tr.admit(c, 6)
	told := func(p *peer) int {
		p.mu.Lock()
		defer p.mu.Unlock()
		n := 0
		for _, ch := range p.chunks {
			n += strings.Count(string(ch[len(tr.hdr):]), string([]byte{byte(kindLost)}))
		}
		p.chunks, p.signals, p.pending = nil, nil, 0
		return n
	}
	seen := tr.tellLost(0)
	if told(b)+told(c) != 0 {
		t.Fatal("kindLost sent with nothing lost")
	}
	dropped = 3
	seen = tr.tellLost(seen)
	if told(b) != 1 || told(c) != 1 || seen != 3 {
		t.Fatalf("after NATS dropped batches: b, c not both told once (seen %d)", seen)
	}
	b.lostOwed.Store(true)
	seen = tr.tellLost(seen)
	if told(b) != 1 || told(c) != 0 {
		t.Fatal("after a failed publish to b: b not told alone")
	}
	if tr.tellLost(seen); told(b) != 0 {
		t.Fatal("b told twice for one failed publish")
	}
}
