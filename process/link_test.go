package process_test

import (
	"errors"
	"sync"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

func link(t *testing.T, a *probe, b pid.PID) {
	t.Helper()
	if err := a.run(t, func(p *process.Process) error { return p.Link(b) }); err != nil {
		t.Fatal(err)
	}
}

func TestLinkAbnormalExitTerminatesAndPropagates(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	a, b, c := spawnProbe(t, n, process.SpawnOptions{}), spawnProbe(t, n, process.SpawnOptions{}), spawnProbe(t, n, process.SpawnOptions{})
	link(t, a, b.pid)
	link(t, c, b.pid) // a - b - c
	wb, wc := watch(t, n, b.pid), watch(t, n, c.pid)
	boom := errors.New("boom")
	a.exit(value.Nil(), boom)

	rb := wb.nextEvent(t).Result
	var ld *process.LinkDownError
	if !errors.As(rb.Err, &ld) || ld.PID != a.pid || !errors.Is(rb.Err, process.ErrLinkDown) || !errors.Is(rb.Err, boom) {
		t.Fatalf("b ended with %v, want link down: %v", rb.Err, a.pid)
	}
	if rb.Err.Error() != "link down: "+a.pid.String() {
		t.Fatalf("b's error text is %q", rb.Err.Error())
	}
	rc := wc.nextEvent(t).Result
	if !errors.As(rc.Err, &ld) || ld.PID != b.pid {
		t.Fatalf("c ended with %v, want link down: %v (propagated through b)", rc.Err, b.pid)
	}
}

func TestLinkTrappedGivesLinkDownEvent(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	a, b := spawnProbe(t, n, process.SpawnOptions{}), spawnProbe(t, n, process.SpawnOptions{})
	if err := b.run(t, func(p *process.Process) error { p.SetTrapLinks(true); return p.Link(a.pid) }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	a.exit(value.Nil(), boom)
	e := b.nextEvent(t)
	if e.Kind != process.EventLinkDown || e.From != a.pid || !errors.Is(e.Result.Err, boom) {
		t.Fatalf("trapping process got %v from %v: %v", e.Kind, e.From, e.Result.Err)
	}
	if !n.Alive(b.pid) {
		t.Fatal("a process that traps links was terminated")
	}
}

func TestLinkNormalExitDoesNotPropagate(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	for _, trap := range []bool{false, true} {
		a, b := spawnProbe(t, n, process.SpawnOptions{}), spawnProbe(t, n, process.SpawnOptions{})
		if err := b.run(t, func(p *process.Process) error { p.SetTrapLinks(trap); return p.Link(a.pid) }); err != nil {
			t.Fatal(err)
		}
		a.exit(value.String("fine"), nil)
		waitExit(t, n, a.pid)
		// b is alive and got nothing: the next event it sees is from a later monitor.
		other := spawnProbeThatExits(t, n)
		if err := b.run(t, func(p *process.Process) error { return p.Monitor(other) }); err != nil {
			t.Fatal(err)
		}
		if e := b.nextEvent(t); e.Kind != process.EventExit || e.From != other {
			t.Fatalf("trap=%v: got %v from %v after a normal exit of a link", trap, e.Kind, e.From)
		}
	}
}

func TestUnlinkStopsPropagation(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	a, b := spawnProbe(t, n, process.SpawnOptions{}), spawnProbe(t, n, process.SpawnOptions{})
	link(t, a, b.pid)
	if err := b.run(t, func(p *process.Process) error { return p.Unlink(a.pid) }); err != nil {
		t.Fatal(err)
	}
	a.exit(value.Nil(), errors.New("boom"))
	waitExit(t, n, a.pid)
	if !n.Alive(b.pid) {
		t.Fatal("unlinked process was terminated")
	}
}

func TestLinkToDeadProcessIsNoproc(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	a := spawnProbe(t, n, process.SpawnOptions{})
	dead := spawnProbeThatExits(t, n)
	waitExit(t, n, dead)
	if err := a.run(t, func(p *process.Process) error { return p.Link(dead) }); !errors.Is(err, process.ErrNoProc) {
		t.Fatalf("link to a dead process: %v", err)
	}
	if err := a.run(t, func(p *process.Process) error { return p.Link(p.PID()) }); !errors.Is(err, process.ErrSelf) {
		t.Fatalf("link to self: %v", err)
	}
}

func TestSpawnLinkedChildFailureReachesParent(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	parent := spawnProbe(t, n, process.SpawnOptions{})
	boom := errors.New("child failed")
	var child pid.PID
	if err := parent.run(t, func(p *process.Process) (err error) {
		p.SetTrapLinks(true)
		child, err = p.Spawn(host, func(*process.Process) (value.Value, error) { return value.Nil(), boom }, process.SpawnOptions{Link: true})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if e := parent.nextEvent(t); e.Kind != process.EventLinkDown || e.From != child || !errors.Is(e.Result.Err, boom) {
		t.Fatalf("parent got %v from %v: %v", e.Kind, e.From, e.Result.Err)
	}
}

// Both sides of a link dying at the same time: both end, nothing deadlocks
// or leaks, and each ends with its own reason or the other's link down.
func TestLinkBothSidesDieAtOnce(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	boomA, boomB := errors.New("a failed"), errors.New("b failed")
	for range 200 {
		a, b := spawnProbe(t, n, process.SpawnOptions{}), spawnProbe(t, n, process.SpawnOptions{})
		link(t, a, b.pid)
		wa, wb := watch(t, n, a.pid), watch(t, n, b.pid)
		var wg sync.WaitGroup
		wg.Go(func() { a.exit(value.Nil(), boomA) })
		wg.Go(func() { b.exit(value.Nil(), boomB) })
		wg.Wait()
		ra, rb := wa.nextEvent(t).Result, wb.nextEvent(t).Result
		if !errors.Is(ra.Err, boomA) && !errors.Is(ra.Err, process.ErrLinkDown) {
			t.Fatalf("a ended with %v", ra.Err)
		}
		if !errors.Is(rb.Err, boomB) && !errors.Is(rb.Err, process.ErrLinkDown) {
			t.Fatalf("b ended with %v", rb.Err)
		}
	}
}
