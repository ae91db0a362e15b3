package gateway

import (
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// ClusterNames returns the cluster-wide names the app was built with
// (Options.ClusterNames); nil on one node.
func (a *App) ClusterNames() process.NameLookup { return a.cnames }

// LuaUsage returns what the Lua process p has used of its budget (for
// observers); false when p is not one of the app's live Lua processes.
func (a *App) LuaUsage(p pid.PID) (luart.Usage, bool) { return a.lua.Usage(p) }

// EachConnection calls yield with every WebSocket connection of the app's
// relays, until yield returns false (for observers).
func (a *App) EachConnection(yield func(wsrelay.ConnInfo) bool) {
	for _, rl := range a.metrics.relayList() {
		stop := false
		rl.EachConnection(func(c wsrelay.ConnInfo) bool {
			stop = !yield(c)
			return !stop
		})
		if stop {
			return
		}
	}
}

// Trace traces a connection of the app's relays (wsrelay.Relay.Trace);
// false when none has it.
func (a *App) Trace(client pid.PID, since uint64, payloads bool) (wsrelay.TraceResult, bool, error) {
	for _, rl := range a.metrics.relayList() {
		if r, ok, err := rl.Trace(client, since, payloads); ok {
			return r, true, err
		}
	}
	return wsrelay.TraceResult{}, false, nil
}
