package process

import (
	"testing"

	"github.com/wsrelay/wsrelay/pid"
)

func TestRelationsTable(t *testing.T) {
	var r relations
	a := pid.PID{Node: "n1", Host: "h", ID: 1}
	b := pid.PID{Node: "n2", Host: "h", ID: 2}
	if !r.add(relLinks, a) || r.add(relLinks, a) {
		t.Fatal("add must report whether the entry is new")
	}
	r.add(relLinks, b)
	r.add(relWatchers, b)
	r.add(relMonitoring, a)
	if !r.has(relLinks, b) || r.has(relMonitoring, b) || r.count(relLinks) != 2 {
		t.Fatal("has/count disagree with what was added")
	}
	r.setNotice(b, notice{topic: "bye"})
	r.setNotice(a, notice{topic: "not a watcher"})
	gone, notes := r.takeNode("n2")
	if len(gone[relLinks]) != 1 || len(gone[relWatchers]) != 1 || len(gone[relMonitoring]) != 0 {
		t.Fatalf("takeNode(n2) = %v", gone)
	}
	if len(notes) != 1 || notes[0].from != b || notes[0].topic != "bye" || r.notices != nil {
		t.Fatalf("takeNode(n2) notices = %v, left %v: want b's only, none left", notes, r.notices)
	}
	if r.has(relLinks, b) || !r.has(relLinks, a) || r.count(relWatchers) != 0 {
		t.Fatal("takeNode left entries of the node or removed others")
	}
	if !r.remove(relLinks, a) || r.remove(relLinks, a) || r.m[relLinks].few != nil || r.m[relLinks].many != nil {
		t.Fatal("remove must report whether the entry was there and free empty maps")
	}
	all := r.take()
	if len(all[relMonitoring]) != 1 || r.count(relMonitoring) != 0 {
		t.Fatalf("take = %v", all)
	}
}

func TestQueue(t *testing.T) {
	var q queue[int]
	q.init(3, true)
	for i := range 3 {
		if q.push(i, false) != pushed {
			t.Fatal("push below the bound failed")
		}
	}
	if q.push(9, false) != pushFull {
		t.Fatal("push above the bound succeeded")
	}
	if q.push(3, true) != pushed {
		t.Fatal("forced push failed")
	}
	select {
	case <-q.signal:
	default:
		t.Fatal("push did not signal")
	}
	for want := range 4 {
		v, ok, _ := q.pop()
		if !ok || v != want {
			t.Fatalf("pop = %d, %v; want %d", v, ok, want)
		}
	}
	// Wrap around the ring many times.
	for i := range 1000 {
		q.push(i, false)
		q.push(i, false)
		a, _, _ := q.pop()
		b, _, _ := q.pop()
		if a != i || b != i {
			t.Fatalf("ring order broken at %d", i)
		}
	}
	q.push(1, false)
	if q.close(false) != 0 || q.push(2, true) != pushClosed {
		t.Fatal("push after close succeeded")
	}
	if v, ok, _ := q.pop(); !ok || v != 1 {
		t.Fatal("items queued before close must still pop")
	}
	if _, ok, closed := q.pop(); ok || !closed {
		t.Fatal("a closed, drained queue must say so")
	}
	<-q.signal // a wake left from the pushes above, or the close
	if _, open := <-q.signal; open {
		t.Fatal("close must close the signal channel")
	}
}

func TestQueueReleasesBurstMemory(t *testing.T) {
	var q queue[int]
	q.init(0, false)
	for i := range 1000 {
		q.push(i, false)
	}
	for range 1000 {
		q.pop()
	}
	if q.buf != nil {
		t.Fatalf("drained queue still holds a buffer of %d", len(q.buf))
	}
}

// TestPIDSet: a set grows from its slice into a map and back to nothing,
// and answers the same either way.
func TestPIDSet(t *testing.T) {
	var s pidSet
	ps := make([]pid.PID, 3*fewPIDs)
	for i := range ps {
		ps[i] = pid.PID{Node: "n", Host: "h", ID: uint64(i + 1)}
	}
	for i, p := range ps {
		if !s.add(p) || s.add(p) || s.len() != i+1 || !s.has(p) {
			t.Fatalf("add %d: len %d", i, s.len())
		}
		if (s.many != nil) != (i >= fewPIDs) {
			t.Fatalf("after %d PIDs: map %v", i+1, s.many != nil)
		}
	}
	if got := s.appendTo(nil); len(got) != len(ps) {
		t.Fatalf("appendTo: %d PIDs", len(got))
	}
	for i, p := range ps {
		if !s.remove(p) || s.remove(p) || s.has(p) || s.len() != len(ps)-i-1 {
			t.Fatalf("remove %d: len %d", i, s.len())
		}
	}
	if s.few != nil || s.many != nil {
		t.Fatal("an emptied set holds memory")
	}
	s.add(ps[0])
	s.add(ps[1])
	if !s.remove(ps[0]) || !s.has(ps[1]) || s.len() != 1 {
		t.Fatal("removing from the slice lost another PID")
	}
}
