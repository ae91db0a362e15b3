package wsrelay

import (
	"github.com/wsrelay/wsrelay/process"
)

// RelayNode returns the node a relay spawns its connections on.
func RelayNode(rl *Relay) *process.Node { return rl.node }

// FrameCounts are a connection's frames each way: from the client,
// relayed to its target (In), and written to the client (Out).
type FrameCounts struct{ In, Out int64 }

// ConnFrames returns the frame counts of the relay's open connections.
func ConnFrames(rl *Relay) []FrameCounts {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	var out []FrameCounts
	for c := range rl.conns {
		out = append(out, FrameCounts{In: c.framesIn.Load(), Out: c.framesOut.Load()})
	}
	return out
}
