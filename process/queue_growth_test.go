package process

import "testing"

// A mailbox that takes bursts (a target echoing pipelined frames) is
// drained and released between them; the next burst must not double its
// ring up from 4 again, and a queue whose bursts shrink must come back
// small, so the policy costs no memory to idle queues.
func TestQueueRegrowsNearItsLastBurst(t *testing.T) {
	var q queue[int]
	q.init(0, false)
	burst := func(n int) {
		for i := range n {
			q.push(i, false)
		}
		for i := range n {
			if v, ok, _ := q.pop(); !ok || v != i {
				t.Fatalf("pop %d of a burst of %d: got %d, %v", i, n, v, ok)
			}
		}
	}
	burst(1000)
	if q.buf != nil {
		t.Fatalf("drained queue still holds a buffer of %d", len(q.buf))
	}
	// 4, 8, …, 1024 would be nine allocations; from 512 it is two.
	if n := testing.AllocsPerRun(5, func() { burst(1000) }); n > 2 {
		t.Errorf("a second burst of 1000 allocated %v times, want at most 2", n)
	}
	for range 10 {
		burst(10)
	}
	if q.buf != nil && len(q.buf) > 64 {
		t.Errorf("after small bursts the ring is %d long, want at most 64", len(q.buf))
	}
}
