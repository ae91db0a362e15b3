package process_test

import (
	"errors"
	"strings"
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

// Only a name's holder releases it: another process, or code that is no
// process, gets an error naming the holder, and the name keeps resolving
// to its holder.
func TestOnlyTheHolderUnregisters(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	hub := spawnProbe(t, n, process.SpawnOptions{Name: "app:hub"})
	intruder := spawnProbe(t, n, process.SpawnOptions{})

	err := intruder.run(t, func(p *process.Process) error { return p.Unregister("app:hub") })
	var held *process.NameHeldError
	if !errors.As(err, &held) || held.Holder != hub.pid || !errors.Is(err, process.ErrNameTaken) {
		t.Fatalf("another process unregistering: %v, want a NameHeldError naming %v", err, hub.pid)
	}
	if want := "name app:hub is held by " + hub.pid.String(); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if err := n.UnregisterBy(pid.PID{}, "app:hub"); !errors.As(err, &held) {
		t.Fatalf("code that is no process unregistering: %v", err)
	}
	if err := intruder.run(t, func(p *process.Process) error { return p.Register("app:hub") }); !errors.As(err, &held) || held.Holder != hub.pid {
		t.Fatalf("taking the held name: %v", err)
	}
	if got, _ := n.Lookup("app:hub"); got != hub.pid {
		t.Fatalf("app:hub resolves to %v, want its holder %v", got, hub.pid)
	}
	if !n.HasName(hub.pid) || n.HasName(intruder.pid) {
		t.Fatal("HasName is wrong")
	}
	if err := intruder.run(t, func(p *process.Process) error { return p.Unregister("nobody") }); !errors.Is(err, process.ErrUnknownName) {
		t.Fatalf("unregistering an unknown name: %v", err)
	}

	// The holder releases it; then it is anyone's.
	if err := hub.run(t, func(p *process.Process) error { return p.Unregister("app:hub") }); err != nil {
		t.Fatalf("the holder unregistering: %v", err)
	}
	if err := intruder.run(t, func(p *process.Process) error { return p.Register("app:hub") }); err != nil {
		t.Fatalf("registering a released name: %v", err)
	}
}

// A reserved name stays with its keeper: the processes the keeper
// registers under it (through the node) hold it in turn, nobody else can
// take it in between, and it is free once the keeper ends.
func TestReservedNameStaysWithItsKeeper(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	keeper := spawnProbe(t, n, process.SpawnOptions{})
	other := spawnProbe(t, n, process.SpawnOptions{})
	if err := n.Reserve("svc", keeper.pid); err != nil {
		t.Fatal(err)
	}
	if err := n.Reserve("svc", other.pid); !errors.Is(err, process.ErrNameTaken) {
		t.Fatalf("reserving a reserved name: %v", err)
	}
	if _, ok := n.Lookup("svc"); ok {
		t.Fatal("a name that is only reserved resolves")
	}
	var held *process.NameHeldError
	if err := other.run(t, func(p *process.Process) error { return p.Register("svc") }); !errors.As(err, &held) || !held.Reserved || held.Holder != keeper.pid {
		t.Fatalf("registering a reserved name: %v, want one naming the keeper", err)
	}
	for range 3 { // a service restarted three times
		child := spawnProbe(t, n, process.SpawnOptions{Name: "svc"})
		if got, _ := n.Lookup("svc"); got != child.pid {
			t.Fatalf("svc = %v, want %v", got, child.pid)
		}
		if err := other.run(t, func(p *process.Process) error { return p.Unregister("svc") }); !errors.As(err, &held) || held.Holder != child.pid {
			t.Fatalf("another process unregistering: %v", err)
		}
		child.exit(value.Nil(), errors.New("crash"))
		// A monitor made while the child ends still hears of it only
		// once its name is free (else the next spawn below fails).
		waitExit(t, n, child.pid)
		if err := other.run(t, func(p *process.Process) error { return p.Register("svc") }); !errors.Is(err, process.ErrNameTaken) {
			t.Fatalf("taking the name between restarts: %v", err)
		}
	}
	// A holder that unregisters gives the name back to the reservation.
	child := spawnProbe(t, n, process.SpawnOptions{Name: "svc"})
	if err := child.run(t, func(p *process.Process) error { return p.Unregister("svc") }); err != nil {
		t.Fatal(err)
	}
	if err := other.run(t, func(p *process.Process) error { return p.Register("svc") }); !errors.Is(err, process.ErrNameTaken) {
		t.Fatalf("taking a name its holder gave back: %v", err)
	}
	keeper.exit(value.Nil(), nil)
	waitExit(t, n, keeper.pid)
	if err := other.run(t, func(p *process.Process) error { return p.Register("svc") }); err != nil {
		t.Fatalf("the keeper ended; the name should be free: %v", err)
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
