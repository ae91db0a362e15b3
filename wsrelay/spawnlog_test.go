package wsrelay

import (
	"context"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
)

// Own outside a relayed request marks nothing; inside it records the
// PID (matched with or without its node), and at most MaxOwnedPerRequest.
func TestOwnRecords(t *testing.T) {
	t.Parallel()
	if Own(context.Background(), pid.PID{Host: "h", ID: 1}) {
		t.Error("Own outside a relayed request reported a mark")
	}
	l := &spawnLog{}
	ctx := withSpawnLog(context.Background(), l)
	p := pid.PID{Node: "n1", Host: "h", ID: 7}
	if !Own(ctx, p) {
		t.Fatal("Own in a relayed request reported no mark")
	}
	for _, tc := range []struct {
		q    pid.PID
		want bool
	}{
		{p, true},
		{pid.PID{Host: "h", ID: 7}, true}, // written without a node: the local node
		{pid.PID{Node: "n2", Host: "h", ID: 7}, false},
		{pid.PID{Node: "n1", Host: "g", ID: 7}, false},
		{pid.PID{Node: "n1", Host: "h", ID: 8}, false},
	} {
		if got := l.Spawned(tc.q); got != tc.want {
			t.Errorf("Spawned(%v) = %v, want %v", tc.q, got, tc.want)
		}
	}
	// The log is bounded: marks past MaxOwnedPerRequest are refused.
	for i := range MaxOwnedPerRequest - 1 {
		if !Own(ctx, pid.PID{Node: "n1", Host: "h", ID: uint64(100 + i)}) {
			t.Fatalf("mark %d refused within the bound", i+2)
		}
	}
	if Own(ctx, pid.PID{Node: "n1", Host: "h", ID: 99}) || l.Spawned(pid.PID{Node: "n1", Host: "h", ID: 99}) {
		t.Error("the log recorded past its bound")
	}
	if !l.Spawned(pid.PID{Node: "n1", Host: "h", ID: 100}) {
		t.Error("the log lost a PID within its bound")
	}
}
