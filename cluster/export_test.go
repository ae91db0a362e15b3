package cluster

import (
	"encoding/binary"
	"time"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process/transport"
)

// EncodeBatch encodes sigs as a batch from node from (incarnation inc) to
// any incarnation of its receiver: tests play a peer that lies with it.
func EncodeBatch(from string, inc uint64, sigs ...transport.Signal) []byte {
	b := appendHeader(nil, from, inc, 0)
	for _, s := range sigs {
		b = appendSignal(b, s)
	}
	return b
}

// NodeSubject is the subject the node name receives its batches on.
func (t *Transport) NodeSubject(name string) string { return t.nodeSubject(name) }

// Swept returns how many sweeps of the table nm made while its connection
// was steady.
func (nm *Names) Swept() uint64 { return nm.swept.Load() }

// KindLost is the control signal "batches between us may have been lost".
const KindLost = kindLost

// EncodeHeartbeat encodes a heartbeat of node name, incarnation inc:
// tests forge one with it.
func EncodeHeartbeat(name string, inc uint64) []byte {
	b := []byte{wireVersion}
	b = binary.LittleEndian.AppendUint64(b, inc)
	b = append(b, 0)
	return appendString(b, name)
}

// HeartbeatSubject is the subject of the heartbeats.
func (t *Transport) HeartbeatSubject() string { return t.heartbeatSubject() }

// SetIncarnation replaces t's incarnation before it starts: a test plays
// a host whose clock went back, or a number made up.
func (t *Transport) SetIncarnation(inc uint64) { t.inc = inc }

// EncodePart encodes a batch from node from (incarnation inc) holding one
// part: piece, at off of total bytes of signals. Tests play a peer that
// lies with it.
func EncodePart(from string, inc uint64, total, off int, piece []byte) []byte {
	return appendPart(appendHeader(nil, from, inc, 0), total, off, piece)
}

// HangBucket makes nm's reads and deletes of the bucket wait out their
// contexts, as over a connection that hangs: its releases stay pending.
func (nm *Names) HangBucket() {
	nm.mu.Lock()
	nm.kv = &hungKV{KeyValue: nm.kv}
	nm.mu.Unlock()
}

// CarryOver puts name in nm's table as a rebuild leaves a name of p the
// new bucket lacks: carried over (for an hour at most, if p is another
// node's), until p's node registers it again or tells it released.
func (nm *Names) CarryOver(name string, p pid.PID) {
	nm.mu.Lock()
	defer nm.mu.Unlock()
	nm.table[name] = nameEntry{pid: p, carried: true, gen: nm.gen, until: time.Now().Add(time.Hour)}
	nm.wakeLocked(name)
}

// DetachWatch ends nm's watch of the bucket as if it lagged for good:
// nothing more reaches the table through it, and only the guard's check
// of the bucket finds what changed.
func (nm *Names) DetachWatch() {
	nm.mu.RLock()
	stop := nm.stopWatch
	nm.mu.RUnlock()
	stop()
}

// Side returns what the node gave Attach.
func (t *Transport) Side() transport.Node {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.side
}
