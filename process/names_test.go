package process_test

import (
	"errors"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

func TestRegisterLookupUnregister(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	a, b := spawnProbe(t, n, process.SpawnOptions{}), spawnProbe(t, n, process.SpawnOptions{})
	if err := a.run(t, func(p *process.Process) error { return p.Register("room:lobby") }); err != nil {
		t.Fatal(err)
	}
	if got, ok := n.Lookup("room:lobby"); !ok || got != a.pid {
		t.Fatalf("Lookup = %v, %v", got, ok)
	}
	if err := n.Register("room:lobby", a.pid); err != nil {
		t.Fatalf("registering a name again for its owner: %v", err)
	}
	if err := n.Register("room:lobby", b.pid); !errors.Is(err, process.ErrNameTaken) {
		t.Fatalf("taking a taken name: %v", err)
	}
	if err := n.Register("second", a.pid); err != nil {
		t.Fatalf("a second name: %v", err)
	}
	if !n.Unregister("room:lobby") || n.Unregister("room:lobby") {
		t.Fatal("Unregister reports wrongly")
	}
	if _, ok := n.Lookup("room:lobby"); ok {
		t.Fatal("name still registered")
	}
	if err := n.Register("room:lobby", b.pid); err != nil {
		t.Fatalf("registering a released name: %v", err)
	}
}

func TestRegisterBadInput(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	a := spawnProbe(t, n, process.SpawnOptions{})
	for _, name := range []string{"", "{n@h|1}", "bad\x00name"} {
		if err := n.Register(name, a.pid); !errors.Is(err, process.ErrInvalidName) {
			t.Errorf("Register(%q) = %v, want ErrInvalidName", name, err)
		}
	}
	dead := spawnProbeThatExits(t, n)
	waitExit(t, n, dead)
	if err := n.Register("x", dead); !errors.Is(err, process.ErrNoProc) {
		t.Fatalf("registering a dead process: %v", err)
	}
	remote := a.pid
	remote.Node = "elsewhere"
	if err := n.Register("x", remote); !errors.Is(err, process.ErrNotLocal) {
		t.Fatalf("registering a remote PID: %v", err)
	}
}

// A name is free by the time monitors hear of its owner's end, so it can be
// taken again at once; this runs the race many times.
func TestNameReusedRightAfterOwnerEnds(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	w := spawnProbe(t, n, process.SpawnOptions{})
	owner := spawnProbe(t, n, process.SpawnOptions{Name: "singleton"})
	for range 200 {
		if err := w.run(t, func(p *process.Process) error { return p.Monitor(owner.pid) }); err != nil {
			t.Fatal(err)
		}
		owner.exit(value.Nil(), nil)
		w.nextEvent(t)
		next := spawnProbe(t, n, process.SpawnOptions{Name: "singleton"}) // fails the test if the name is taken
		if got, _ := n.Lookup("singleton"); got != next.pid {
			t.Fatalf("name points at %v, want %v", got, next.pid)
		}
		owner = next
	}
}

func TestSpawnWithTakenNameFails(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	spawnProbe(t, n, process.SpawnOptions{Name: "only"})
	before := n.Stats().Processes
	_, err := n.Spawn(host, func(*process.Process) (value.Value, error) { return value.Nil(), nil }, process.SpawnOptions{Name: "only"})
	if !errors.Is(err, process.ErrNameTaken) {
		t.Fatalf("spawn with a taken name: %v", err)
	}
	if after := n.Stats().Processes; after != before {
		t.Fatalf("a failed spawn left a process behind: %d -> %d", before, after)
	}
}

// fakeNames is a cluster-wide name table of fixed entries.
type fakeNames map[string]pid.PID

func (f fakeNames) LookupName(name string) (pid.PID, bool) { p, ok := f[name]; return p, ok }

func TestResolveClusterNamesFirst(t *testing.T) {
	t.Parallel()
	remote := pid.PID{Node: "other", Host: host, ID: 9}
	n := newNode(t, nil, &process.Options{ClusterNames: fakeNames{"lobby": remote}})
	pr := spawnProbe(t, n, process.SpawnOptions{})
	if err := n.Register("lobby", pr.pid); err != nil {
		t.Fatal(err)
	}
	if err := n.Register("local-only", pr.pid); err != nil {
		t.Fatal(err)
	}
	if p, err := n.Resolve("lobby"); err != nil || p != remote {
		t.Fatalf("a name held cluster-wide and locally resolved to %v, %v; want the cluster's %v", p, err, remote)
	}
	if p, err := n.Resolve("local-only"); err != nil || p != pr.pid {
		t.Fatalf("a local name resolved to %v, %v", p, err)
	}
}
