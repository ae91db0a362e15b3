package process_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// TestInspect: an observer sees each live process with its names, entry,
// mailbox and relations, and no longer once it has ended.
func TestInspect(t *testing.T) {
	n := newNode(t, nil, nil)
	release := make(chan struct{})
	wait := func(p *process.Process) (value.Value, error) {
		<-release
		return value.Nil(), nil
	}
	a, err := n.Spawn(host, wait, process.SpawnOptions{Name: "alpha", Entry: "app:a"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := n.Spawn(host, wait, process.SpawnOptions{Parent: a, Monitor: true, Link: true})
	if err != nil {
		t.Fatal(err)
	}
	n.Send(pid.PID{}, b, "x", value.String("0123456789"))
	n.Send(a, b, "y", value.Nil())
	if _, err := n.TrySend(a, b, "z", value.Nil()); err != nil {
		t.Fatal(err)
	}
	ia, ok := n.Inspect(a)
	if !ok || ia.Host != host || ia.Entry != "app:a" || len(ia.Names) != 1 || ia.Names[0] != "alpha" || ia.Monitors != 1 || ia.Links != 1 || ia.Reactive || ia.Started.IsZero() {
		t.Fatalf("a: %+v %v", ia, ok)
	}
	ib, _ := n.Inspect(b)
	if ib.MailboxLen != 3 || ib.MailboxBytes == 0 || ib.Watchers != 1 || ib.Links != 1 || ib.MessagesIn != 3 || ib.MessagesOut != 0 {
		t.Fatalf("b: %+v", ib)
	}
	if ia, _ = n.Inspect(a); ia.MessagesOut != 2 || ia.MessagesIn != 0 {
		t.Fatalf("a after sending two: %+v", ia)
	}
	if h, _ := n.Host(host); h.Stats().In != 3 || h.Stats().Out != 2 {
		t.Fatalf("the host's messages: %+v", h.Stats())
	}
	seen := map[pid.PID]bool{}
	n.Processes(func(p process.ProcessInfo) bool { seen[p.PID] = true; return true })
	if !seen[a] || !seen[b] {
		t.Fatalf("Processes saw %v", seen)
	}
	stopped := 0
	n.Processes(func(process.ProcessInfo) bool { stopped++; return false })
	if stopped != 1 {
		t.Fatalf("yield false went on: %d calls", stopped)
	}
	if names := n.LocalNames(); len(names) != 1 || names[0].Name != "alpha" || names[0].PID != a {
		t.Fatalf("LocalNames: %+v", names)
	}
	close(release)
	poll.Until(t, timeout, "both ended", func() bool { return !n.Alive(a) && !n.Alive(b) })
	if _, ok := n.Inspect(a); ok {
		t.Fatal("an ended process is still inspected")
	}
	if names := n.LocalNames(); len(names) != 0 {
		t.Fatalf("names of ended processes: %+v", names)
	}
}

// TestRecentEnds: the node keeps its last abnormal ends for observers,
// the latest first, at most MaxRecentEndsPerEntry of one entry and
// MaxRecentEnds in all, each error cut; normal ends and terminations are
// not kept.
func TestRecentEnds(t *testing.T) {
	n := newNode(t, nil, nil)
	// end spawns a process that ends with err and waits until it has
	// ended (and, abnormally, until its end is kept).
	entry := "app:e"
	end := func(err error, kept bool) pid.PID {
		p, e := n.Spawn(host, func(p *process.Process) (value.Value, error) { return value.Nil(), err }, process.SpawnOptions{Entry: entry, Quiet: true})
		if e != nil {
			t.Fatal(e)
		}
		poll.Until(t, timeout, "the process ended", func() bool {
			ends := n.RecentEnds()
			return !n.Alive(p) && (!kept || len(ends) > 0 && ends[0].PID == p)
		})
		return p
	}
	end(nil, false)
	end(process.ErrStop, false)
	long := end(errors.New("boom "+strings.Repeat("x", 20000)), true)
	if got := n.RecentEnds(); len(got) != 1 || got[0].PID != long || got[0].Entry != "app:e" || len(got[0].Error) > 9000 || !strings.HasPrefix(got[0].Error, "boom") {
		t.Fatalf("after one crash: %d ends, %+v", len(got), got[0].PID)
	}
	// A crash loop of one entry keeps only its last few.
	for i := range 20 {
		end(fmt.Errorf("loop %d", i), true)
	}
	if got := n.RecentEnds(); len(got) != process.MaxRecentEndsPerEntry || got[0].Error != "loop 19" {
		t.Fatalf("a crash loop: %d kept, latest %q", len(got), got[0].Error)
	}
	// Many entries: the oldest ends go first.
	var last pid.PID
	for i := range process.MaxRecentEnds + 6 {
		entry = fmt.Sprintf("app:e%d", i)
		last = end(fmt.Errorf("crash %d", i), true)
	}
	got := n.RecentEnds()
	if len(got) != process.MaxRecentEnds || got[0].PID != last || got[0].Error != fmt.Sprintf("crash %d", process.MaxRecentEnds+5) || got[len(got)-1].Error != "crash 6" {
		t.Fatalf("after many crashes: %d kept, latest %v %q, oldest %q", len(got), got[0].PID, got[0].Error, got[len(got)-1].Error)
	}
}

// TestSendByProcessCounted: what a process sends with its own Send and
// SendDest counts as its messages out, as a send by its PID does.
func TestSendByProcessCounted(t *testing.T) {
	n := newNode(t, nil, nil)
	release := make(chan struct{})
	defer close(release)
	sink, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		<-release
		return value.Nil(), nil
	}, process.SpawnOptions{Name: "sink"})
	if err != nil {
		t.Fatal(err)
	}
	sent := make(chan error, 1)
	a, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		err := errors.Join(p.Send(sink, "x", value.Nil()), p.SendDest("sink", "y", value.Nil()), p.SendDest(sink.String(), "z", value.Nil()))
		sent <- err
		<-release
		return value.Nil(), nil
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if ia, _ := n.Inspect(a); ia.MessagesOut != 3 {
		t.Fatalf("a sent three: %+v", ia)
	}
	if ib, _ := n.Inspect(sink); ib.MessagesIn != 3 {
		t.Fatalf("sink took three: %+v", ib)
	}
	if h, _ := n.Host(host); h.Stats().Out != 3 {
		t.Fatalf("the host's messages out: %+v", h.Stats())
	}
}
