package wsrelay

import (
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

// Owned targets: a target the handler spawned while serving the request
// that set the header (the PIDs it marked with Own) belongs to its
// connection. When the connection ends the target gets
// ws.leave and then CANCEL (see conn.finish); when the upgrade never
// happens it is cancelled here. Other PIDs the handler spawned are left
// alone: they may be workers it meant to keep. A target that holds a
// registered name when the connection ends is shared (a room spawned on
// demand and registered for others to join) and is not cancelled either.

// CancelNotConnected is the CANCEL reason of an owned target whose
// connection never opened (refused, failed handshake, client gone).
const CancelNotConnected = "not_connected"

// cancelOwned cancels an owned target whose connection never opened,
// unless it holds a name (it is shared then, like a room).
func (rl *Relay) cancelOwned(target pid.PID) {
	if rl.node.HasName(target) {
		return
	}
	_ = rl.node.Cancel(pid.PID{}, target, CancelNotConnected)
	rl.clientLog.Debug("owned relay target cancelled: no connection", "target", target.String())
}

// dropOwned cancels the target named by a header that was not used (a
// refusal, or a header invalid in another field), if the handler spawned
// it.
func (rl *Relay) dropOwned(raw string, spawns *spawnLog, why string) {
	if target, ok := headerTarget(raw); ok && spawns.Spawned(target) {
		rl.clientLog.Debug("relay header not used: "+why, "target", target.String())
		rl.cancelOwned(target)
	}
}

// dropInvalid cancels what the handler spawned for a relay header that
// cannot be used: the target it names, or, when it names none that can
// be read (an empty value, not JSON, no valid target_pid), every process
// the handler spawned for the request, since the connection they were
// spawned for will not open. Named processes are shared and left alone.
func (rl *Relay) dropInvalid(raw string, spawns *spawnLog) {
	if _, ok := headerTarget(raw); ok {
		rl.dropOwned(raw, spawns, "invalid relay header")
		return
	}
	for _, p := range spawns.PIDs() {
		rl.clientLog.Debug("relay header names no target: cancelling what the handler spawned", "target", p.String())
		rl.cancelOwned(p)
	}
}

// headerTarget reads target_pid from a relay header that may be invalid
// in other ways.
func headerTarget(raw string) (pid.PID, bool) {
	v, err := value.ParseJSON([]byte(raw))
	if err != nil {
		return pid.PID{}, false
	}
	f, ok := v.Get("target_pid")
	if !ok {
		return pid.PID{}, false
	}
	target, err := parseTarget(f)
	return target, err == nil
}
