package cluster

import "testing"

// A sender refused for a full queue waits on roomChan: it stays open
// while half of MaxPending or more waits, and closes when the queue
// empties (sent, or dropped because the node went down).
func TestPeerRoom(t *testing.T) {
	tr := &Transport{opts: Options{MaxPending: 100}}
	p := newPeer(tr, "b")
	closed := func(c <-chan struct{}) bool {
		select {
		case <-c:
			return true
		default:
			return false
		}
	}
	if !closed(p.roomChan(tr)) {
		t.Fatal("an empty queue has room")
	}
	p.pending = 60
	wait := p.roomChan(tr)
	if closed(wait) || p.roomChan(tr) != wait {
		t.Fatal("a queue past half its bound has no room, and waiters share one channel")
	}
	p.drop(tr)
	if !closed(wait) || p.room != nil {
		t.Fatal("the waiters were not released when the queue emptied")
	}
}
