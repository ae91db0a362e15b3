package process_test

import (
	"context"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
)

func TestSpawnLog(t *testing.T) {
	t.Parallel()
	process.RecordSpawn(context.Background(), pid.PID{Host: "h", ID: 1}) // no log: nothing happens
	l := &process.SpawnLog{}
	ctx := process.WithSpawnLog(context.Background(), l)
	p := pid.PID{Node: "n1", Host: "h", ID: 7}
	process.RecordSpawn(ctx, p)
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
	// The log is bounded: spawns past SpawnLogMax are not recorded.
	for i := range process.SpawnLogMax {
		process.RecordSpawn(ctx, pid.PID{Node: "n1", Host: "h", ID: uint64(100 + i)})
	}
	if l.Spawned(pid.PID{Node: "n1", Host: "h", ID: uint64(100 + process.SpawnLogMax - 1)}) {
		t.Error("the log recorded past its bound")
	}
	if !l.Spawned(pid.PID{Node: "n1", Host: "h", ID: 100}) {
		t.Error("the log lost a PID within its bound")
	}
}
