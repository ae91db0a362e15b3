package wsrelay

import (
	"context"
	"sync"

	"github.com/wsrelay/wsrelay/pid"
)

// MaxOwnedPerRequest bounds how many processes one request may mark with
// Own; marks past it are refused.
const MaxOwnedPerRequest = 1024

// Own tells the relay that the handler serving the request of ctx spawned
// p for the connection that request opens. A handler calls it with
// r.Context() for the target it spawns and names in the relay header:
// the target then belongs to the connection, gets ws.leave and then
// CANCEL when the connection ends, and is cancelled at once when the
// connection never opens (refused, invalid header, failed upgrade). A
// target that holds a registered name by then is shared and left alone
// ("Owned targets" in docs/relay.md). Lua handlers' process.spawn calls
// it for every process they spawn (the gateway passes Own as
// luart.Options.OnSpawn).
//
// Own reports whether p was marked: false when ctx is not the context of
// a request the relay's middleware serves, or when the request already
// marked MaxOwnedPerRequest processes.
func Own(ctx context.Context, p pid.PID) bool {
	l, _ := ctx.Value(spawnLogKey{}).(*spawnLog)
	if l == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.pids) >= MaxOwnedPerRequest {
		return false
	}
	l.pids = append(l.pids, p)
	return true
}

// spawnLog holds what Own marked for one request: the processes its
// handler spawned for the connection. The zero spawnLog is ready to use;
// it is safe for concurrent use (a handler may spawn from goroutines).
type spawnLog struct {
	mu   sync.Mutex
	pids []pid.PID
}

type spawnLogKey struct{}

// withSpawnLog returns a context whose Own calls l records.
func withSpawnLog(ctx context.Context, l *spawnLog) context.Context {
	return context.WithValue(ctx, spawnLogKey{}, l)
}

// Spawned reports whether p was recorded. A p without a node name (a PID
// written "{host|id}") matches a recorded PID of any node.
func (l *spawnLog) Spawned(p pid.PID) bool {
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
func (l *spawnLog) PIDs() []pid.PID {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]pid.PID(nil), l.pids...)
}
