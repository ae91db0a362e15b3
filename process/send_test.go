package process_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

func TestSpawnNamesNodeAndHost(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, &process.Options{Name: "n1"})
	pr := spawnProbe(t, n, process.SpawnOptions{})
	if pr.pid.Node != "n1" || pr.pid.Host != host || pr.pid.ID == 0 {
		t.Fatalf("PID %v does not name node n1 and host %s", pr.pid, host)
	}
	if !n.Alive(pr.pid) {
		t.Fatal("a spawned process is not alive")
	}
	other := spawnProbe(t, n, process.SpawnOptions{})
	if other.pid.ID == pr.pid.ID {
		t.Fatal("two processes got the same id")
	}
}

func TestSpawnErrors(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	body := func(p *process.Process) (value.Value, error) { return value.Nil(), nil }
	if _, err := n.Spawn("nope:host", body, process.SpawnOptions{}); !errors.Is(err, process.ErrUnknownHost) || !strings.Contains(err.Error(), "nope:host") {
		t.Fatalf("spawn on an unknown host: %v", err)
	}
	if _, err := n.Spawn(host, body, process.SpawnOptions{Link: true}); !errors.Is(err, process.ErrNoProc) {
		t.Fatalf("spawn linked to no parent: %v", err)
	}
	if _, err := n.AddHost(host, nil); !errors.Is(err, process.ErrHostExists) {
		t.Fatalf("adding a host twice: %v", err)
	}
	if _, err := n.AddHost("bad|host", nil); err == nil {
		t.Fatal("a host name with '|' was accepted")
	}
	if _, err := process.NewNode(&process.Options{Name: "a@b"}); err == nil {
		t.Fatal("a node name with '@' was accepted")
	}
}

func TestSendDeliversPayloadAndSender(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	a, b := spawnProbe(t, n, process.SpawnOptions{}), spawnProbe(t, n, process.SpawnOptions{})
	payload := value.MustOf(map[string]any{"n": 1, "list": []any{"x", true}})
	if err := a.run(t, func(p *process.Process) error { return p.Send(b.pid, "greet", payload) }); err != nil {
		t.Fatal(err)
	}
	m := b.nextMsg(t)
	if m.Topic != "greet" || m.From != a.pid || !value.Equal(m.Payload, payload) {
		t.Fatalf("got %+v", m)
	}
}

// The receiver never observes the sender mutating what it built the payload from.
func TestSendPayloadIsAValue(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	b := spawnProbe(t, n, process.SpawnOptions{})
	raw := []byte("original")
	list := []any{"a"}
	v := value.MustOf(map[string]any{"bytes": raw, "list": list})
	if err := n.Send(pid.PID{}, b.pid, "t", v); err != nil {
		t.Fatal(err)
	}
	copy(raw, "MUTATED!")
	list[0] = "changed"
	m := b.nextMsg(t)
	got, _ := m.Payload.Get("bytes")
	if s, _ := got.Raw(); s != "original" {
		t.Fatalf("receiver saw the mutation: %q", s)
	}
	l, _ := m.Payload.Get("list")
	if s, _ := l.Index(0).Text(); s != "a" {
		t.Fatalf("receiver saw the mutation: %q", s)
	}
}

func TestSendOrderPerPair(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	recv := spawnProbe(t, n, process.SpawnOptions{})
	const senders, each = 4, 5000
	var wg sync.WaitGroup
	for s := range senders {
		from := pid.PID{Node: n.Name(), Host: "sender", ID: uint64(s + 1)}
		wg.Go(func() {
			for i := range each {
				if err := n.Send(from, recv.pid, "seq", value.Int(int64(i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	next := make(map[pid.PID]int64)
	for range senders * each {
		m := recv.nextMsg(t)
		i, _ := m.Payload.Int()
		if i != next[m.From] {
			t.Fatalf("from %v: got #%d, want #%d", m.From, i, next[m.From])
		}
		next[m.From]++
	}
}

func TestSendToDeadPIDIsCountedNotAnError(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	pr := spawnProbe(t, n, process.SpawnOptions{})
	w := watch(t, n, pr.pid)
	pr.exit(value.Nil(), nil)
	w.nextEvent(t)
	before := n.Stats().DeadLetters
	if err := n.Send(pid.PID{}, pr.pid, "hello", value.Nil()); err != nil {
		t.Fatalf("send to a dead PID: %v", err)
	}
	// A PID with a live id but another host names no process either.
	live := spawnProbe(t, n, process.SpawnOptions{})
	wrongHost := live.pid
	wrongHost.Host = "other:host"
	if err := n.Send(pid.PID{}, wrongHost, "hello", value.Nil()); err != nil {
		t.Fatal(err)
	}
	if got := n.Stats().DeadLetters - before; got != 2 {
		t.Fatalf("dead letters grew by %d, want 2", got)
	}
}

func TestSendByNameAndPIDText(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, &process.Options{Name: "n1"})
	pr := spawnProbe(t, n, process.SpawnOptions{Name: "hub"})
	for _, dest := range []string{"hub", pr.pid.String(), "{" + host + "|" + itoa(pr.pid.ID) + "}"} {
		if err := n.SendDest(pid.PID{}, dest, "t", value.String(dest)); err != nil {
			t.Fatalf("SendDest(%q): %v", dest, err)
		}
		if m := pr.nextMsg(t); !value.Equal(m.Payload, value.String(dest)) {
			t.Fatalf("SendDest(%q) delivered %v", dest, m.Payload)
		}
	}
	err := n.SendDest(pid.PID{}, "nobody", "t", value.Nil())
	if !errors.Is(err, process.ErrUnknownName) || !strings.Contains(err.Error(), `"nobody"`) {
		t.Fatalf("send to an unknown name: %v", err)
	}
	if err := n.SendDest(pid.PID{}, "{broken", "t", value.Nil()); !errors.Is(err, pid.ErrSyntax) {
		t.Fatalf("send to a malformed PID: %v", err)
	}
}

func TestTopics(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	pr := spawnProbe(t, n, process.SpawnOptions{})
	if err := n.Send(pid.PID{}, pr.pid, "", value.Nil()); !errors.Is(err, process.ErrEmptyTopic) {
		t.Fatalf("empty topic: %v", err)
	}
	if err := n.Send(pid.PID{}, pr.pid, "@internal", value.Nil()); !errors.Is(err, process.ErrReservedTopic) {
		t.Fatalf("reserved topic: %v", err)
	}
	if err := n.SendSystem(pid.PID{}, pr.pid, "@internal", value.Nil()); err != nil {
		t.Fatal(err)
	}
	if m := pr.nextMsg(t); m.Topic != "@internal" {
		t.Fatalf("got %q", m.Topic)
	}
}

func TestMailboxBoundDropsCountsAndLogs(t *testing.T) {
	t.Parallel()
	var logs testlog.Buffer
	n := newNode(t, &process.HostOptions{MailboxSize: 8}, &process.Options{Logger: logger(&logs)})
	// A process that never reads its inbox until told to.
	release := make(chan struct{})
	got := make(chan int, 1)
	id, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		<-release
		count := 0
		for {
			if _, ok, _ := p.TryReceive(); !ok {
				break
			}
			count++
		}
		got <- count
		return value.Nil(), nil
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if err := n.Send(pid.PID{}, id, "fill", value.Int(int64(i))); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	for range 3 {
		if err := n.Send(pid.PID{}, id, "over", value.Nil()); !errors.Is(err, process.ErrMailboxFull) {
			t.Fatalf("send to a full mailbox: %v", err)
		}
	}
	h, _ := n.Host(host)
	if d := h.Stats().Dropped; d != 3 {
		t.Fatalf("host counted %d drops, want 3", d)
	}
	if !strings.Contains(logs.String(), "mailbox full") || !strings.Contains(logs.String(), id.String()) {
		t.Fatalf("drop not logged with the PID: %q", logs.String())
	}
	close(release)
	if c := <-got; c != 8 {
		t.Fatalf("receiver got %d messages, want the 8 that fit", c)
	}
}

func itoa(u uint64) string { return value.Int(int64(u)).String() }

func TestTrySendFullMailboxIsNotADrop(t *testing.T) {
	n := newNode(t, &process.HostOptions{MailboxSize: 2}, nil)
	h, _ := n.Host(host)
	block := make(chan struct{})
	to, _ := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		<-block
		for {
			if _, ok := p.Receive(p.Context()); !ok {
				return value.Nil(), nil
			}
		}
	}, process.SpawnOptions{})
	for range 2 {
		if _, err := n.TrySend(pid.PID{}, to, "t", value.Nil()); err != nil {
			t.Fatal(err)
		}
	}
	_, err := n.TrySend(pid.PID{}, to, "t", value.Nil())
	if !errors.Is(err, process.ErrMailboxFull) {
		t.Fatalf("third message: %v", err)
	}
	if d := h.Stats().Dropped; d != 0 {
		t.Errorf("a refused TrySend counted %d drop(s)", d)
	}
	close(block)
}

// TestMailboxBytes: a mailbox is bounded in bytes as well as in messages:
// big messages fill it long before the message bound. A refused TrySend
// is not a drop; a sender waiting for room is woken once the receiver has
// taken the mailbox down to half its bytes, and then a message of any
// size gets in, even one over the whole bound.
func TestMailboxBytes(t *testing.T) {
	t.Parallel()
	const bound = 1 << 20
	n := newNode(t, &process.HostOptions{MailboxSize: 1000, MailboxBytes: bound}, nil)
	h, _ := n.Host(host)
	take := make(chan struct{})
	took := make(chan int)
	to, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		for range take {
			m, ok := p.Receive(p.Context())
			if !ok {
				return value.Nil(), nil
			}
			data, _ := m.Payload.Raw()
			took <- len(data)
		}
		return value.Nil(), nil
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(take) })
	chunk := value.BytesString(strings.Repeat("x", 100<<10))
	sent := 0
	for ; sent < 100; sent++ {
		if _, err := n.TrySend(pid.PID{}, to, "chunk", chunk); err != nil {
			if !errors.Is(err, process.ErrMailboxFull) {
				t.Fatal(err)
			}
			break
		}
	}
	if sent != 10 {
		t.Fatalf("%d chunks of 100 KiB went into a 1 MiB mailbox, want 10", sent)
	}
	if d := h.Stats().Dropped; d != 0 {
		t.Fatalf("a refused TrySend counted %d drop(s)", d)
	}
	if err := n.Send(pid.PID{}, to, "chunk", chunk); !errors.Is(err, process.ErrMailboxFull) {
		t.Fatalf("Send to a mailbox full of bytes: %v", err)
	}
	if d := h.Stats().Dropped; d != 1 {
		t.Fatalf("a refused Send counted %d drops, want 1", d)
	}

	room := n.MailboxRoom(to, 0)
	for i := range 4 {
		take <- struct{}{}
		<-took
		select {
		case <-room:
			t.Fatalf("room signalled after %d of 10 chunks were taken; the mailbox holds more than half its bytes", i+1)
		default:
		}
	}
	take <- struct{}{}
	<-took
	<-room // 5 chunks left: half the bytes at most

	// Woken, a sender gets in whatever the size of its message.
	huge := value.BytesString(strings.Repeat("y", 2*bound))
	if err := n.Send(pid.PID{}, to, "huge", huge); err != nil {
		t.Fatalf("a message over the bound into a mailbox at half its bytes: %v", err)
	}
	if _, err := n.TrySend(pid.PID{}, to, "tiny", value.Nil()); !errors.Is(err, process.ErrMailboxFull) {
		t.Fatalf("a message after one over the bound: %v", err)
	}
	for range 5 {
		take <- struct{}{}
		<-took
	}
	take <- struct{}{}
	if got := <-took; got != 2*bound {
		t.Fatalf("took %d bytes, want the huge message", got)
	}
}
