package pg_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/pg"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

func TestJoinLeaveMultiJoin(t *testing.T) {
	t.Parallel()
	n := single(t, pg.ScopeOptions{})
	p := proctest.Spawn(t, n.node, host, nil)
	q := proctest.Spawn(t, n.node, host, nil)
	sc := n.scope
	if err := sc.Join(p.PID, "workers", "all"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Join(p.PID, "workers"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Join(q.PID, "all"); err != nil {
		t.Fatal(err)
	}
	if got, want := sorted(sc.Members("workers")), sorted([]pid.PID{p.PID, p.PID}); !slices.Equal(got, want) {
		t.Fatalf("workers = %v, want %v (joined twice)", got, want)
	}
	if got := sc.Groups(); !slices.Equal(got, []string{"all", "workers"}) {
		t.Fatalf("groups %v", got)
	}
	if got := sc.LocalGroups(); !slices.Equal(got, []string{"all", "workers"}) {
		t.Fatalf("local groups %v", got)
	}
	if err := sc.Leave(p.PID, "workers"); err != nil {
		t.Fatal(err)
	}
	if got := sc.LocalMembers("workers"); len(got) != 1 {
		t.Fatalf("after one leave of two joins: %v", got)
	}
	// Best effort over a list: "nope" is skipped.
	if err := sc.Leave(p.PID, "workers", "nope"); err != nil {
		t.Fatal(err)
	}
	if got := sc.Members("workers"); len(got) != 0 {
		t.Fatalf("after two leaves: %v", got)
	}
	if err := sc.Leave(p.PID, "workers", "nope"); !errors.Is(err, pg.ErrNotMember) {
		t.Fatalf("leave of no group: %v, want ErrNotMember", err)
	}
	if got := sc.Groups(); !slices.Equal(got, []string{"all"}) {
		t.Fatalf("a group without members is gone: %v", got)
	}
}

func TestBadArguments(t *testing.T) {
	t.Parallel()
	n := single(t, pg.ScopeOptions{})
	p := proctest.Spawn(t, n.node, host, nil)
	sc := n.scope
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"no group", sc.Join(p.PID), pg.ErrInvalid},
		{"empty group", sc.Join(p.PID, ""), pg.ErrInvalid},
		{"long group", sc.Join(p.PID, strings.Repeat("g", pg.MaxName+1)), pg.ErrInvalid},
		{"other node", sc.Join(pid.PID{Node: "elsewhere", Host: host, ID: 7}, "g"), pg.ErrNotLocal},
		{"ended", sc.Join(pid.PID{Node: "solo", Host: host, ID: 1 << 60}, "g"), pg.ErrNoProc},
		{"reserved topic", sc.Broadcast(p.PID, "g", "@x", value.Nil()), pg.ErrInvalid},
		{"empty topic", sc.Broadcast(p.PID, "g", "", value.Nil()), pg.ErrInvalid},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	if _, ok := n.svc.Scope("app:other"); ok {
		t.Fatal("an unknown scope was found")
	}
}

func TestMonitorSnapshotAndEvents(t *testing.T) {
	t.Parallel()
	n := single(t, pg.ScopeOptions{})
	p := proctest.Spawn(t, n.node, host, nil)
	q := proctest.Spawn(t, n.node, host, nil)
	sc := n.scope
	if err := sc.Join(p.PID, "room"); err != nil {
		t.Fatal(err)
	}
	sub, members, err := sc.Monitor("room")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	all, snap, err := sc.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer all.Close()
	if !slices.Equal(members, []pid.PID{p.PID}) || !slices.Equal(snap["room"], []pid.PID{p.PID}) {
		t.Fatalf("snapshots %v %v", members, snap)
	}
	noEvent(t, sub) // the join before the snapshot is not an event
	if err := sc.Join(q.PID, "room", "other"); err != nil {
		t.Fatal(err)
	}
	if e := nextEvent(t, sub); e.Kind != pg.Joined || e.Group != "room" || !slices.Equal(e.PIDs, []pid.PID{q.PID}) {
		t.Fatalf("event %s %s %v", e.Kind, e.Group, e.PIDs)
	}
	noEvent(t, sub) // "other" is not monitored here
	for _, g := range []string{"room", "other"} {
		if e := nextEvent(t, all); e.Kind != pg.Joined || e.Group != g {
			t.Fatalf("events(): %s %s, want joined %s", e.Kind, e.Group, g)
		}
	}
	// A member that ends leaves every group: one member.left each.
	q.Exit(nil)
	if e := nextEvent(t, sub); e.Kind != pg.Left || !slices.Equal(e.PIDs, []pid.PID{q.PID}) {
		t.Fatalf("event %s %v, want member.left of the ended process", e.Kind, e.PIDs)
	}
	if got := sc.Members("other"); len(got) != 0 {
		t.Fatalf("other still has %v", got)
	}
	noEvent(t, sub)
	sub.Close()
	if _, ok, closed := sub.Next(); ok || !closed {
		t.Fatal("a closed subscription gave an event or did not say closed")
	}
}

func TestMultiJoinLeftEventKeepsMultiplicity(t *testing.T) {
	t.Parallel()
	n := single(t, pg.ScopeOptions{})
	p := proctest.Spawn(t, n.node, host, nil)
	sub, _, err := n.scope.Monitor("g")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	for range 3 {
		if err := n.scope.Join(p.PID, "g"); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		nextEvent(t, sub)
	}
	p.Exit(nil)
	if e := nextEvent(t, sub); e.Kind != pg.Left || len(e.PIDs) != 3 {
		t.Fatalf("%s %v, want member.left with the PID three times", e.Kind, e.PIDs)
	}
}

func TestBroadcastLocalOncePerMember(t *testing.T) {
	t.Parallel()
	n := single(t, pg.ScopeOptions{})
	p := proctest.Spawn(t, n.node, host, nil)
	q := proctest.Spawn(t, n.node, host, nil)
	sender := proctest.Spawn(t, n.node, host, nil)
	for _, m := range []pid.PID{p.PID, p.PID, q.PID} {
		if err := n.scope.Join(m, "g"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if err := n.scope.Broadcast(sender.PID, "g", "news", value.Int(int64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.scope.BroadcastLocal(sender.PID, "nobody", "news", value.Nil()); err != nil {
		t.Fatalf("a group without members: %v", err)
	}
	for _, pr := range []*proctest.Probe{p, q} {
		for i := range 3 {
			m := pr.Next("news")
			if v, _ := m.Payload.Int(); m.From != sender.PID || v != int64(i) {
				t.Fatalf("%v got %v from %v, want %d from the sender", pr.PID, m.Payload, m.From, i)
			}
		}
		if len(pr.Msgs) != 0 {
			t.Fatalf("%v got a message twice (it joined twice, and gets each once)", pr.PID)
		}
	}
}

func TestBounds(t *testing.T) {
	t.Parallel()
	n := single(t, pg.ScopeOptions{MaxGroups: 2, MaxMembersPerGroup: 3, MaxMembers: 5, MaxSubscriptions: 2, MonitorBuffer: 4})
	p := proctest.Spawn(t, n.node, host, nil)
	sc := n.scope
	if err := sc.Join(p.PID, "a", "b"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Join(p.PID, "c"); !errors.Is(err, pg.ErrLimit) {
		t.Fatalf("a third group: %v, want ErrLimit", err)
	}
	if err := sc.Join(p.PID, "a", "a", "a"); !errors.Is(err, pg.ErrLimit) {
		t.Fatalf("a fourth join of a: %v, want ErrLimit", err)
	}
	if got := sc.Members("a"); len(got) != 1 {
		t.Fatalf("a refused join changed nothing: %v", got)
	}
	if err := sc.Join(p.PID, "a", "a", "b"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Join(p.PID, "b"); !errors.Is(err, pg.ErrLimit) {
		t.Fatalf("a sixth join on the node: %v, want ErrLimit", err)
	}
	s1, _, err := sc.Monitor("a")
	if err != nil {
		t.Fatal(err)
	}
	s2, _, err := sc.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, _, err := sc.Monitor("b"); !errors.Is(err, pg.ErrLimit) {
		t.Fatalf("a third subscription: %v, want ErrLimit", err)
	}
	// Five events into a buffer of four: four, then overflow, then the end.
	if err := sc.Leave(p.PID, "a", "a", "a"); err != nil {
		t.Fatal(err)
	}
	if err := sc.Join(p.PID, "a", "a"); err != nil {
		t.Fatal(err)
	}
	for range 4 {
		if e := nextEvent(t, s1); e.Group != "a" || e.Kind == pg.Overflow {
			t.Fatalf("event %s %s", e.Kind, e.Group)
		}
	}
	if e := nextEvent(t, s1); e.Kind != pg.Overflow {
		t.Fatalf("event %s, want overflow", e.Kind)
	}
	if _, ok, closed := s1.Next(); ok || !closed {
		t.Fatal("an overflowed subscription goes on")
	}
	// Its place is free again.
	s3, _, err := sc.Monitor("b")
	if err != nil {
		t.Fatalf("after an overflow: %v", err)
	}
	s3.Close()
}

func TestBoundsInBytes(t *testing.T) {
	t.Parallel()
	n := single(t, pg.ScopeOptions{MonitorBufferBytes: 1000})
	p := proctest.Spawn(t, n.node, host, nil)
	sub, _, err := n.scope.Events()
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	g := strings.Repeat("g", 200)
	for i := range 10 {
		if err := n.scope.Join(p.PID, g[:200-i]); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	for {
		e := nextEvent(t, sub)
		if e.Kind == pg.Overflow {
			break
		}
		got++
	}
	if got == 0 || got >= 10 {
		t.Fatalf("%d events held in 1000 bytes, want some but not all ten of over 200 bytes", got)
	}
}

func TestScopeOptionsCheck(t *testing.T) {
	t.Parallel()
	o, err := pg.ScopeOptions{}.Check()
	if err != nil || o.MaxGroups != pg.DefaultMaxGroups || o.MonitorBuffer != pg.DefaultMonitorBuffer {
		t.Fatalf("defaults: %+v %v", o, err)
	}
	if _, err := (pg.ScopeOptions{MaxMembers: pg.CeilingMaxMembers + 1}).Check(); err == nil || !strings.Contains(err.Error(), "max_members") {
		t.Fatalf("past the ceiling: %v", err)
	}
	if _, err := (pg.ScopeOptions{MaxGroups: -1}).Check(); err == nil {
		t.Fatal("negative accepted")
	}
}

// A change of many members comes as events of at most MaxEventPIDs PIDs.
func TestBigChangeInPieces(t *testing.T) {
	t.Parallel()
	n := single(t, pg.ScopeOptions{MonitorBufferBytes: 8 << 20})
	p := proctest.Spawn(t, n.node, host, nil)
	groups := make([]string, pg.MaxEventPIDs+10)
	for i := range groups {
		groups[i] = "g"
	}
	if err := n.scope.Join(p.PID, groups...); err != nil {
		t.Fatal(err)
	}
	sub, members, err := n.scope.Monitor("g")
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	if len(members) != len(groups) {
		t.Fatalf("%d members", len(members))
	}
	p.Exit(nil) // one leave of every join: more PIDs than one event holds
	if e := nextEvent(t, sub); e.Kind != pg.Left || len(e.PIDs) != pg.MaxEventPIDs {
		t.Fatalf("%s with %d PIDs, want %d", e.Kind, len(e.PIDs), pg.MaxEventPIDs)
	}
	if e := nextEvent(t, sub); e.Kind != pg.Left || len(e.PIDs) != 10 {
		t.Fatalf("%s with %d PIDs, want the other 10", e.Kind, len(e.PIDs))
	}
}
