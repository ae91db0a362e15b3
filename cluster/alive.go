package cluster

import "github.com/wsrelay/wsrelay/pid"

// mayLive reports whether the process p may be alive, as far as this node
// knows: a process of this node that has not ended, or one of a node this
// node sees up, issued by the incarnation it sees up. An incarnation's PID
// ids are above its incarnation number (Transport.Start makes sure), and
// an earlier incarnation's are below it: they were issued before that
// incarnation ended, so before the next one started. A node down, unknown
// or lost, or an earlier incarnation's PID, holds nothing that lives.
func (t *Transport) mayLive(p pid.PID) bool {
	if p.Node == t.name {
		return t.node.Alive(p)
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	peer := t.peers[p.Node]
	return peer != nil && peer.up && p.ID > peer.inc
}
