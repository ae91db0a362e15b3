package luart

import (
	"testing"
	"time"
)

// TestTickerStopsWithItsState: closing a state (its process ended) leaves
// no timer scheduled, even for a ticker that fires while it closes, and
// nothing can be scheduled on it afterwards.
func TestTickerStopsWithItsState(t *testing.T) {
	s := &state{}
	tk := &luaTimer{s: s, periodic: true, ch: newLChan(1), d: time.Millisecond}
	tk.mu.Lock()
	tk.arm()
	tk.mu.Unlock()
	select {
	case <-tk.ch.ready(): // it ticks
	case <-time.After(10 * time.Second):
		t.Fatal("the ticker never ticked")
	}
	s.timers.stopAll()
	tk.fire() // a tick already on its way when the state closed
	s.timers.mu.Lock()
	left := len(s.timers.m)
	s.timers.mu.Unlock()
	tk.mu.Lock()
	pending := tk.pending
	tk.mu.Unlock()
	if left != 0 || pending {
		t.Errorf("after close: %d timers scheduled, ticker pending %v", left, pending)
	}
	if _, ok := s.timers.start(time.Millisecond, func() {}); ok {
		t.Error("a timer was scheduled on a closed state")
	}
}

func TestPendingTimersBounded(t *testing.T) {
	var ts timerSet
	defer ts.stopAll()
	for i := range maxPendingTimers {
		if _, ok := ts.start(time.Hour, func() {}); !ok {
			t.Fatalf("timer %d refused", i)
		}
	}
	if _, ok := ts.start(time.Hour, func() {}); ok {
		t.Error("more than maxPendingTimers timers were scheduled")
	}
}
