package process

import (
	"context"
	"sync"

	"github.com/wsrelay/wsrelay/pid"
)

// SpawnLogMax bounds how many PIDs one SpawnLog records; spawns past it
// are not recorded.
const SpawnLogMax = 1024

// SpawnLog records the processes spawned on behalf of one piece of work,
// such as one HTTP request. Whoever starts the work puts a SpawnLog in
// its context (WithSpawnLog); code that spawns with that context records
// the new PIDs (RecordSpawn) — the Lua runtime does so for process.spawn
// in a function.lua handler. The WebSocket relay uses it to tell a target
// its handler spawned for the connection from one it found. The zero
// SpawnLog is ready to use; it is safe for concurrent use.
type SpawnLog struct {
	mu   sync.Mutex
	pids []pid.PID
}

type spawnLogKey struct{}

// WithSpawnLog returns a context whose spawns l records.
func WithSpawnLog(ctx context.Context, l *SpawnLog) context.Context {
	return context.WithValue(ctx, spawnLogKey{}, l)
}

// RecordSpawn records p in the SpawnLog of ctx; without one it does
// nothing.
func RecordSpawn(ctx context.Context, p pid.PID) {
	l, _ := ctx.Value(spawnLogKey{}).(*SpawnLog)
	if l == nil {
		return
	}
	l.mu.Lock()
	if len(l.pids) < SpawnLogMax {
		l.pids = append(l.pids, p)
	}
	l.mu.Unlock()
}

// Spawned reports whether p was recorded. A p without a node name (a PID
// written "{host|id}") matches a recorded PID of any node.
func (l *SpawnLog) Spawned(p pid.PID) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, q := range l.pids {
		if q.ID == p.ID && q.Host == p.Host && (p.Node == "" || p.Node == q.Node) {
			return true
		}
	}
	return false
}

// PIDs returns the recorded PIDs, oldest first.
func (l *SpawnLog) PIDs() []pid.PID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]pid.PID(nil), l.pids...)
}
