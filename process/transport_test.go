package process_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
)

// memTransport joins nodes in one Go process, delivering synchronously.
type memTransport struct {
	mu    sync.Mutex
	nodes map[string]transport.Node // each node's side, from Attach
}

func (m *memTransport) Attach(n transport.Node) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nodes[n.Name()] = n
}

var errUnreachable = errors.New("node unreachable")

func (m *memTransport) Deliver(s transport.Signal) error {
	m.mu.Lock()
	n := m.nodes[s.To.Node]
	m.mu.Unlock()
	if n == nil {
		return errUnreachable
	}
	n.HandleSignal(s)
	return nil
}

// cut removes a node from the network and tells the others.
func (m *memTransport) cut(name string) {
	m.mu.Lock()
	delete(m.nodes, name)
	var rest []transport.Node
	for _, n := range m.nodes {
		rest = append(rest, n)
	}
	m.mu.Unlock()
	for _, n := range rest {
		n.NodeDown(name)
	}
}

func twoNodes(t *testing.T) (*memTransport, *process.Node, *process.Node) {
	t.Helper()
	tr := &memTransport{nodes: map[string]transport.Node{}}
	a := newNode(t, nil, &process.Options{Name: "a", Transport: tr})
	b := newNode(t, nil, &process.Options{Name: "b", Transport: tr})
	return tr, a, b
}

func TestRemoteWithoutTransportFails(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, &process.Options{Name: "solo"})
	pr := spawnProbe(t, n, process.SpawnOptions{})
	remote := pid.PID{Node: "other", Host: host, ID: 1}
	if err := n.Send(pr.pid, remote, "t", value.Nil()); !errors.Is(err, process.ErrNoTransport) {
		t.Fatalf("send to another node: %v", err)
	}
	for name, op := range map[string]func(p *process.Process) error{
		"monitor": func(p *process.Process) error { return p.Monitor(remote) },
		"link":    func(p *process.Process) error { return p.Link(remote) },
	} {
		if err := pr.run(t, op); !errors.Is(err, process.ErrNoTransport) {
			t.Errorf("%s of a PID on another node: %v", name, err)
		}
	}
	if err := n.Cancel(pr.pid, remote, "x"); !errors.Is(err, process.ErrNoTransport) {
		t.Fatalf("cancel of a PID on another node: %v", err)
	}
}

func TestRemoteSendMonitorLink(t *testing.T) {
	t.Parallel()
	_, a, b := twoNodes(t)
	pa, pb := spawnProbe(t, a, process.SpawnOptions{}), spawnProbe(t, b, process.SpawnOptions{})

	if err := pa.run(t, func(p *process.Process) error { return p.Send(pb.pid, "hi", value.String("from a")) }); err != nil {
		t.Fatal(err)
	}
	if m := pb.nextMsg(t); m.From != pa.pid || m.Topic != "hi" {
		t.Fatalf("b got %+v", m)
	}

	// Monitor across nodes.
	boom := errors.New("boom")
	wa := watch(t, a, pb.pid)
	pb.exit(value.Nil(), boom)
	if e := wa.nextEvent(t); e.From != pb.pid || !errors.Is(e.Result.Err, boom) {
		t.Fatalf("remote EXIT: %+v", e)
	}
	// Monitoring a remote process that has ended gives noproc.
	if e := watch(t, a, pb.pid).nextEvent(t); !errors.Is(e.Result.Err, process.ErrNoProc) {
		t.Fatalf("monitoring an ended remote process: %v", e.Result.Err)
	}

	// A link across nodes: b's abnormal end terminates a's process.
	qa, qb := spawnProbe(t, a, process.SpawnOptions{}), spawnProbe(t, b, process.SpawnOptions{})
	link(t, qa, qb.pid)
	w := watch(t, a, qa.pid)
	qb.exit(value.Nil(), boom)
	var ld *process.LinkDownError
	if r := w.nextEvent(t).Result; !errors.As(r.Err, &ld) || ld.PID != qb.pid {
		t.Fatalf("a's linked process ended with %v", r.Err)
	}

	// A remote link to an ended process answers LINK_DOWN noproc.
	ra := spawnProbe(t, a, process.SpawnOptions{})
	if err := ra.run(t, func(p *process.Process) error { p.SetTrapLinks(true); return p.Link(qb.pid) }); err != nil {
		t.Fatal(err)
	}
	if e := ra.nextEvent(t); e.Kind != process.EventLinkDown || !errors.Is(e.Result.Err, process.ErrNoProc) {
		t.Fatalf("link to an ended remote process: %v %v", e.Kind, e.Result.Err)
	}

	// Cancel and terminate across nodes.
	ca := spawnProbe(t, b, process.SpawnOptions{})
	w = watch(t, a, ca.pid)
	if err := a.Terminate(ca.pid); err != nil {
		t.Fatal(err)
	}
	if r := w.nextEvent(t).Result; !errors.Is(r.Err, process.ErrTerminated) {
		t.Fatalf("remote terminate: %v", r.Err)
	}
}

func TestNodeDownGivesNoconnection(t *testing.T) {
	t.Parallel()
	tr, a, b := twoNodes(t)
	remote := spawnProbe(t, b, process.SpawnOptions{})
	watcher := watch(t, a, remote.pid)
	trapper := spawnProbe(t, a, process.SpawnOptions{})
	if err := trapper.run(t, func(p *process.Process) error { p.SetTrapLinks(true); return p.Link(remote.pid) }); err != nil {
		t.Fatal(err)
	}
	linked := spawnProbe(t, a, process.SpawnOptions{})
	link(t, linked, remote.pid)
	wl := watch(t, a, linked.pid)

	tr.cut("b")

	if e := watcher.nextEvent(t); e.Kind != process.EventExit || e.From != remote.pid || !errors.Is(e.Result.Err, process.ErrNoConnection) || e.Result.Err.Error() != "noconnection" {
		t.Fatalf("monitor of a lost node: %v %v", e.Kind, e.Result.Err)
	}
	if e := trapper.nextEvent(t); e.Kind != process.EventLinkDown || !errors.Is(e.Result.Err, process.ErrNoConnection) {
		t.Fatalf("trapped link to a lost node: %v %v", e.Kind, e.Result.Err)
	}
	if r := wl.nextEvent(t).Result; !errors.Is(r.Err, process.ErrLinkDown) || !errors.Is(r.Err, process.ErrNoConnection) {
		t.Fatalf("link to a lost node ended the process with %v", r.Err)
	}
	// Monitoring a process of an unreachable node fails at once.
	if err := watcherRun(t, a, remote.pid); !errors.Is(err, errUnreachable) {
		t.Fatalf("monitor of an unreachable node: %v", err)
	}
}

func watcherRun(t *testing.T, n *process.Node, target pid.PID) error {
	w := spawnProbe(t, n, process.SpawnOptions{})
	return w.run(t, func(p *process.Process) error { return p.Monitor(target) })
}

// TestNoticeIsBounded: a notice over MaxNoticeBytes is refused with
// ErrNoticeTooLarge and leaves the earlier one in place; one that comes
// from another node anyway (a node that does not check) is not kept: the
// target does not get it when the watcher's node is lost.
func TestNoticeIsBounded(t *testing.T) {
	t.Parallel()
	tr, a, b := twoNodes(t)
	target := spawnProbe(t, b, process.SpawnOptions{})
	w := spawnProbe(t, a, process.SpawnOptions{})
	big := value.Bytes(make([]byte, process.MaxNoticeBytes))
	err := w.run(t, func(p *process.Process) error { return p.MonitorNotice(target.pid, "gone", big) })
	if !errors.Is(err, process.ErrNoticeTooLarge) || !strings.Contains(err.Error(), "at most 65536") {
		t.Fatalf("a %d-byte notice: %v, want ErrNoticeTooLarge naming the limit", process.MaxNoticeBytes, err)
	}
	if err := w.run(t, func(p *process.Process) error { return p.MonitorNotice(target.pid, "small", value.String("x")) }); err != nil {
		t.Fatal(err)
	}
	if err := w.run(t, func(p *process.Process) error { return p.MonitorNotice(target.pid, "gone", big) }); !errors.Is(err, process.ErrNoticeTooLarge) {
		t.Fatalf("a second big notice: %v", err)
	}

	// A watcher on c whose node sends a big notice regardless.
	c := pid.PID{Node: "c", Host: host, ID: 7}
	tr.nodes["b"].HandleSignal(transport.Signal{Kind: transport.SigMonitor, From: c, To: target.pid, Topic: "huge", Payload: big})

	tr.cut("a")
	tr.nodes["b"].NodeDown("c")
	if m := target.nextMsg(t); m.Topic != "small" || m.From != w.pid {
		t.Fatalf("after a was lost the target got %s from %v, want the small notice from %v", m.Topic, m.From, w.pid)
	}
	if err := b.Send(target.pid, target.pid, "marker", value.Nil()); err != nil {
		t.Fatal(err)
	}
	if m := target.nextMsg(t); m.Topic != "marker" {
		t.Fatalf("after c was lost the target got %s (%d bytes), want no notice from c", m.Topic, value.BinarySize(m.Payload))
	}
}

// TestNoticesPerProcessAreBounded: the notices one process holds from
// watchers on other nodes are bounded to MaxNoticeBytesPerProcess in all;
// one past it is not kept (the monitor stands), and a notice spent makes
// room again.
func TestNoticesPerProcessAreBounded(t *testing.T) {
	t.Parallel()
	tr, _, b := twoNodes(t)
	target := spawnProbe(t, b, process.SpawnOptions{})
	var payload value.Value
	for n := process.MaxNoticeBytes; ; n-- {
		if payload = value.Bytes(make([]byte, n)); len("t")+value.BinarySize(payload) == process.MaxNoticeBytes {
			break
		}
	}
	fit := process.MaxNoticeBytesPerProcess / process.MaxNoticeBytes
	watcher := func(i int) pid.PID { return pid.PID{Node: "c", Host: host, ID: uint64(i)} }
	monitor := func(i int) {
		tr.nodes["b"].HandleSignal(transport.Signal{Kind: transport.SigMonitor, From: watcher(i), To: target.pid, Topic: "t", Payload: payload})
	}
	for i := 1; i <= fit+1; i++ {
		monitor(i)
	}
	// The first watcher stops watching: its notice is dropped, and a
	// notice sent again by the last one (refused before) is kept.
	tr.nodes["b"].HandleSignal(transport.Signal{Kind: transport.SigDemonitor, From: watcher(1), To: target.pid})
	monitor(fit + 1)
	monitor(fit + 2) // past the bound again

	tr.nodes["b"].NodeDown("c")
	if err := b.Send(target.pid, target.pid, "marker", value.Nil()); err != nil {
		t.Fatal(err)
	}
	got := map[uint64]bool{}
	for {
		m := target.nextMsg(t)
		if m.Topic == "marker" {
			break
		}
		got[m.From.ID] = true
	}
	if len(got) != fit || got[1] || !got[uint64(fit+1)] || got[uint64(fit+2)] {
		t.Fatalf("after c was lost the target got %d notices (from 1: %v, from %d: %v, from %d: %v), want %d, from 2 to %d",
			len(got), got[1], fit+1, got[uint64(fit+1)], fit+2, got[uint64(fit+2)], fit, fit+1)
	}
}
