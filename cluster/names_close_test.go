package cluster

import (
	"context"
	"math"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
)

// hungKV is a bucket whose reads and deletes get no answer, as over a
// NATS connection that hangs: each waits out its context.
type hungKV struct {
	jetstream.KeyValue
	deletes atomic.Int32 // reads and deletes
}

func (h *hungKV) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	h.deletes.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

func (h *hungKV) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	h.deletes.Add(1)
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestNamesCloseDuringReleases: a node releasing the names of a lost node
// (one JetStream request each, five seconds at most) when NATS stops
// answering must not hold its shutdown for five seconds a name: Close
// ends what is in flight.
func TestNamesCloseDuringReleases(t *testing.T) {
	s := natstest.Start(t, true)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tr, err := New(nc, &Options{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	n, err := process.NewNode(&process.Options{Name: "a", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(n); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = n.Shutdown(ctx)
		_ = tr.Close()
	}()
	nm := NewNames(tr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := nm.Start(ctx); err != nil {
		t.Fatal(err)
	}
	hung := &hungKV{}
	nm.mu.Lock()
	hung.KeyValue = nm.kv
	nm.kv = hung
	for i := range 20 {
		nm.table["room:"+strconv.Itoa(i)] = nameEntry{pid: pid.PID{Node: "ghost", Host: "app", ID: uint64(i + 1)}, rev: uint64(i + 1), gen: nm.gen}
	}
	gen := nm.gen
	nm.mu.Unlock()
	nm.wg.Add(1)
	go func() { // as peerDown does
		defer nm.wg.Done()
		nm.nodeDown("ghost", gen, 1000, 0, math.MaxUint64)
	}()
	poll.Until(t, 10*time.Second, "a release is in flight", func() bool { return hung.deletes.Load() > 0 })
	closed := make(chan struct{})
	go func() {
		nm.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Errorf("Close still waits after 3s, on %d release(s) of a lost node's names", hung.deletes.Load())
		<-closed
	}
}
