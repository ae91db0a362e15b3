package process_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
)

// entry is one thing a receiver got, in the order it got it.
type entry struct {
	from  pid.PID
	kind  process.EventKind // 0 for a message
	topic string
}

// orderLog is a receiver's record of what it got.
type orderLog struct {
	mu      sync.Mutex
	entries []entry
	exits   int
	done    chan struct{} // closed when want EXITs have arrived
	want    int
}

func newOrderLog(wantExits int) *orderLog {
	return &orderLog{done: make(chan struct{}), want: wantExits}
}

func (l *orderLog) add(e entry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, e)
	if e.kind == process.EventExit {
		l.exits++
		if l.exits == l.want {
			close(l.done)
		}
	}
}

// wait waits until every EXIT has arrived, as long as the receiver keeps
// making progress (a loaded machine under -race is slow, a stuck one is not).
func (l *orderLog) wait(t *testing.T) {
	t.Helper()
	last, since := -1, time.Now()
	for {
		select {
		case <-l.done:
			return
		case <-time.After(100 * time.Millisecond):
		}
		l.mu.Lock()
		n, exits := len(l.entries), l.exits
		l.mu.Unlock()
		if n != last {
			last, since = n, time.Now()
		} else if time.Since(since) > timeout {
			t.Fatalf("the receiver is stuck after %d entries and %d of %d EXITs", n, exits, l.want)
		}
	}
}

func (l *orderLog) HandleMessage(_ *process.Process, m process.Message) error {
	l.add(entry{from: m.From, topic: m.Topic})
	return nil
}

func (l *orderLog) HandleEvent(_ *process.Process, e process.Event) error {
	l.add(entry{from: e.From, kind: e.Kind})
	return nil
}

func (l *orderLog) Terminate(*process.Process, process.Result) {}

// check asserts that from each sender the receiver got count messages
// numbered 0..count-1 in order, then the sender's EXIT, then nothing.
func (l *orderLog) check(t *testing.T, senders []pid.PID, count int) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	next := map[pid.PID]int{}
	exited := map[pid.PID]bool{}
	for i, e := range l.entries {
		switch {
		case exited[e.from]:
			t.Fatalf("entry %d: %v after the EXIT of %v", i, e, e.from)
		case e.kind == process.EventExit:
			if next[e.from] != count {
				t.Fatalf("entry %d: EXIT of %v after %d of its %d messages", i, e.from, next[e.from], count)
			}
			exited[e.from] = true
		case e.kind != 0:
			t.Fatalf("entry %d: unexpected event %v", i, e.kind)
		default:
			if want := strconv.Itoa(next[e.from]); e.topic != want {
				t.Fatalf("entry %d: message %q from %v, want %q", i, e.topic, e.from, want)
			}
			next[e.from]++
		}
	}
	for _, s := range senders {
		if !exited[s] {
			t.Fatalf("no EXIT from %v", s)
		}
	}
}

// spawnBlockingLogger starts a blocking receiver that takes messages and
// events as they become ready, like a Lua process selecting over its inbox
// and its events, and records them in l.
func spawnBlockingLogger(t *testing.T, n *process.Node, l *orderLog, watch []pid.PID) pid.PID {
	t.Helper()
	id, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		for {
			select {
			case <-p.InboxReady():
				for {
					m, ok, _ := p.TryReceive()
					if !ok {
						break
					}
					_ = l.HandleMessage(p, m)
				}
			case <-p.EventsReady():
				for {
					e, ok, _ := p.TryReceiveEvent()
					if !ok {
						break
					}
					_ = l.HandleEvent(p, e)
				}
			case <-l.done:
				return value.Nil(), nil
			case <-p.Context().Done():
				return value.Nil(), nil
			}
		}
	}, process.SpawnOptions{Watch: watch})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestExitComesAfterTheSendersLastMessages sends 100,000 messages from
// four senders, each of which ends right after its last send, to a
// receiver that monitors them all: from each sender the receiver gets
// every message in order and then its EXIT, never the EXIT first.
func TestExitComesAfterTheSendersLastMessages(t *testing.T) {
	t.Parallel()
	const senders, count = 4, 25_000
	for _, kind := range []string{"reactive", "blocking", "remote"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			hopts := &process.HostOptions{MailboxSize: senders*count + 16}
			var recvNode, sendNode *process.Node
			if kind == "remote" {
				tr := &memTransport{nodes: map[string]transport.Node{}}
				recvNode = newNode(t, hopts, &process.Options{Name: "a", Transport: tr})
				sendNode = newNode(t, hopts, &process.Options{Name: "b", Transport: tr})
			} else {
				recvNode = newNode(t, hopts, nil)
				sendNode = recvNode
			}
			start := make(chan struct{})
			ids := make(chan pid.PID, 1)
			var spids []pid.PID
			for range senders {
				id, err := sendNode.Spawn(host, func(p *process.Process) (value.Value, error) {
					<-start
					to := <-ids
					ids <- to
					for i := range count {
						if err := p.Send(to, strconv.Itoa(i), value.Int(int64(i))); err != nil {
							return value.Nil(), err
						}
					}
					return value.Nil(), nil
				}, process.SpawnOptions{})
				if err != nil {
					t.Fatal(err)
				}
				spids = append(spids, id)
			}
			l := newOrderLog(senders)
			var recv pid.PID
			if kind == "reactive" {
				var err error
				if recv, err = recvNode.SpawnReactive(host, l, process.SpawnOptions{Watch: spids}); err != nil {
					t.Fatal(err)
				}
			} else {
				recv = spawnBlockingLogger(t, recvNode, l, spids)
			}
			ids <- recv
			close(start)
			l.wait(t)
			l.check(t, spids, count)
			_ = recvNode.Terminate(recv)
		})
	}
}

// TestEventWaitsOnlyForItsOwnSender: an EXIT waits for the messages its
// sender sent before it, but not for other senders' messages, and it does
// not hold back another process's EXIT queued after it.
func TestEventWaitsOnlyForItsOwnSender(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	h, _ := n.Host(host)
	chatty, quiet, other := spawnProbe(t, n, process.SpawnOptions{}), spawnProbe(t, n, process.SpawnOptions{}), spawnProbe(t, n, process.SpawnOptions{})

	// The receiver runs what the test gives it and reads nothing by itself.
	do := make(chan func(*process.Process))
	quit := make(chan struct{})
	t.Cleanup(func() { close(quit) })
	recv, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		for {
			select {
			case f := <-do:
				f(p)
			case <-quit:
				return value.Nil(), nil
			}
		}
	}, process.SpawnOptions{Watch: []pid.PID{chatty.pid, quiet.pid}})
	if err != nil {
		t.Fatal(err)
	}
	// as runs f as the receiver; f reports failures as errors, since
	// t.Fatal must not be called from the receiver's goroutine.
	as := func(f func(p *process.Process) error) {
		t.Helper()
		res := make(chan error, 1)
		do <- func(p *process.Process) { res <- f(p) }
		if err := <-res; err != nil {
			t.Fatal(err)
		}
	}

	const count = 1000
	send := func(pr *probe, k int) {
		t.Helper()
		if err := pr.run(t, func(p *process.Process) error {
			for i := range k {
				if err := p.Send(recv, strconv.Itoa(i), value.Nil()); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	send(other, 1) // an unrelated message first in the inbox
	send(chatty, count)
	// chatty ends; once the host counts it ended, its EXIT is queued.
	live := h.Stats().Live
	chatty.exit(value.Nil(), nil)
	poll.Until(t, timeout, "the chatty sender ended", func() bool { return h.Stats().Live == live-1 })
	quiet.exit(value.Nil(), nil)

	as(func(p *process.Process) error {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		e, ok := p.ReceiveEvent(ctx)
		if !ok || e.From != quiet.pid {
			return fmt.Errorf("first event: %v from %v (ok %v), want the EXIT of the quiet sender, queued second", e.Kind, e.From, ok)
		}
		if e, ok, _ := p.TryReceiveEvent(); ok {
			return fmt.Errorf("the chatty sender's EXIT (%v from %v) came before its %d messages", e.Kind, e.From, count)
		}
		if m, _, _ := p.TryReceive(); m.From != other.pid {
			return fmt.Errorf("first message from %v, want the unrelated one", m.From)
		}
		for i := range count {
			if e, ok, _ := p.TryReceiveEvent(); ok {
				return fmt.Errorf("EXIT of %v after %d of its %d messages", e.From, i, count)
			}
			m, ok, _ := p.TryReceive()
			if !ok || m.Topic != strconv.Itoa(i) || m.From != chatty.pid {
				return fmt.Errorf("message %d: %q from %v (ok %v)", i, m.Topic, m.From, ok)
			}
		}
		select { // the last message woke the event consumer
		case <-p.EventsReady():
		case <-time.After(timeout):
			return errors.New("no wake-up for the EXIT once its sender's messages were read")
		}
		e, ok, _ = p.TryReceiveEvent()
		if !ok || e.Kind != process.EventExit || e.From != chatty.pid {
			return fmt.Errorf("after the messages: %v from %v (ok %v), want the chatty sender's EXIT", e.Kind, e.From, ok)
		}
		return nil
	})
}

// A process that waits on its events alone gets the EXIT of a child that
// sent it a message first, without reading that message (which stays in
// its inbox); ReceiveEvent would hold the EXIT behind it.
func TestReceiveEventAlone(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, nil)
	got := make(chan string, 1)
	_, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		self := p.PID()
		child, err := n.Spawn(host, func(c *process.Process) (value.Value, error) {
			return value.Nil(), c.Send(self, "result", value.Int(7))
		}, process.SpawnOptions{})
		if err != nil {
			return value.Nil(), err
		}
		if err := p.Monitor(child); err != nil {
			return value.Nil(), err
		}
		ctx, cancel := context.WithTimeout(p.Context(), timeout)
		defer cancel()
		e, ok := p.ReceiveEventAlone(ctx)
		if !ok || e.Kind != process.EventExit || e.From != child {
			got <- fmt.Sprintf("event %+v, ok %v", e, ok)
			return value.Nil(), nil
		}
		m, ok, _ := p.TryReceive()
		got <- fmt.Sprintf("EXIT, then %s %v", m.Topic, ok)
		return value.Nil(), nil
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-got:
		if s != "EXIT, then result true" {
			t.Fatal(s)
		}
	case <-time.After(2 * timeout):
		t.Fatal("no answer")
	}
}
