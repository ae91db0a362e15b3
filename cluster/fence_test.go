package cluster

import (
	"testing"
	"time"
)

// TestFenceBeforeTheOthersRelease: a node that stops hearing its own
// heartbeat fences itself (CutOff) so that it has stopped what it runs
// under a claim before the other nodes take it for lost and release the
// claim. Its supervisor looks every 100 ms; the others take it down as
// soon as it has been silent for HeartbeatTimeout less their check
// period. For every valid setting, the fence must come first.
//
// And a node whose own connection hangs must see itself unsteady before
// it takes its peers for lost, or it releases their names.
func TestFenceBeforeTheOthersRelease(t *testing.T) {
	const supervisorTick = 100 * time.Millisecond
	for _, c := range []struct{ interval, timeout time.Duration }{
		{time.Second, 5 * time.Second / 2},
		{time.Second, 2 * time.Second},
		{200 * time.Millisecond, 400 * time.Millisecond},
	} {
		if _, err := (Options{HeartbeatInterval: c.interval, HeartbeatTimeout: c.timeout}).withDefaults(); err == nil {
			t.Errorf("interval %v, timeout %v: accepted, though a cut-off node could not fence itself in time", c.interval, c.timeout)
		}
	}
	for _, c := range []struct{ interval, timeout time.Duration }{
		{time.Second, 3 * time.Second}, // the defaults
		{50 * time.Millisecond, time.Second},
		{time.Second, 3100 * time.Millisecond},
		{time.Second, 3500 * time.Millisecond},
		{time.Second, 4 * time.Second},
		{time.Second, time.Minute},
		{100 * time.Millisecond, 500 * time.Millisecond}, // the least timeout allowed
		{20 * time.Millisecond, 500 * time.Millisecond},
	} {
		o, err := Options{HeartbeatInterval: c.interval, HeartbeatTimeout: c.timeout}.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		tr := &Transport{opts: o}
		every, released := tr.periods() // heartbeatLoop's period; expire's silence
		fenced := tr.fenceAfter() + supervisorTick
		if fenced >= released {
			t.Errorf("interval %v, timeout %v: fenced %v after its last heartbeat, the others may release its claims after %v",
				c.interval, c.timeout, fenced, released)
		}
		// The other way round: when this node's connection hangs, it must
		// count itself unsteady (no echo for fenceAfter) before it takes a
		// peer for lost, or it releases the names of a live peer once the
		// hang ends. A peer heard last up to a heartbeat period before the
		// hang is taken down released-period after the hang began.
		period := every // heartbeatLoop publishes at the first tick HeartbeatInterval-every/2 after the last
		for period < o.HeartbeatInterval-every/2 {
			period += every
		}
		if lost := released - period; lost < tr.unsteadyAfter() {
			t.Errorf("interval %v, timeout %v: hung, this node may take a peer for lost %v into the hang, still steady (it counts itself unsteady after %v)",
				c.interval, c.timeout, lost, tr.unsteadyAfter())
		}
		if tr.unsteadyAfter() <= period {
			t.Errorf("interval %v, timeout %v: a heartbeat echoed on time (every %v) would count as unsteady after %v", c.interval, c.timeout, period, tr.unsteadyAfter())
		}
	}
}
