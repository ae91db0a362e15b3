package wsrelay_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// pidLink is a gateLink that also keeps the client PID of the first
// ws.join or node_down notice it is handed (accepted or refused), so a
// test can send to the connection's process.
type pidLink struct {
	*gateLink
	mu     sync.Mutex
	client string
}

func (l *pidLink) Deliver(s transport.Signal) error {
	if s.Topic == wsrelay.TopicJoin || s.Topic == wsrelay.TopicLeave { // a join, or the notice
		if v, ok := s.Payload.Get("client_pid"); ok {
			l.mu.Lock()
			if l.client == "" {
				l.client, _ = v.Text()
			}
			l.mu.Unlock()
		}
	}
	return l.gateLink.Deliver(s)
}

func (l *pidLink) clientPID() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.client
}

// TestCloseWhileJoinWaitsForRoom: while a client's ws.join waits for room
// toward its target's node (the connection is opening), the client's
// close is answered at once, not after the queue has room. Closed again
// while its leave waits (a ws.close, a cancel), it stays closed once.
// Once the queue has room, the target gets the join and exactly one
// leave, in that order, and the connection's process ends.
func TestCloseWhileJoinWaitsForRoom(t *testing.T) {
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	link := &pidLink{gateLink: &gateLink{room: make(chan struct{})}}
	rl, e := overLink(t, log, link, nil, pid.PID{Node: "n2", Host: host, ID: 7})
	node := wsrelay.RelayNode(rl)

	link.close()
	c := e.dial(t, nil)
	poll.Until(t, timeout, "the notice or the join to be refused for the full queue", func() bool {
		refused, _ := link.state()
		return refused > 0
	})
	if err := c.WriteClose(1000, "bye"); err != nil {
		t.Fatal(err)
	}
	// The queue stays full: the answer cannot wait for it.
	wantClose(t, c, 1000, "")
	if _, got := link.state(); got != "" {
		t.Fatalf("sent while the queue was full: %q", got)
	}
	// Closing: its leave is owed behind its join. Closed again, from
	// outside, it owes no second leave.
	client := link.clientPID()
	if client == "" {
		t.Fatal("no client PID in the join")
	}
	if !node.Alive(mustPID(client)) {
		t.Fatal("the connection's process ended before its leave went")
	}
	_ = node.SendDest(pid.PID{}, client, wsrelay.TopicClose, value.Nil())
	_ = node.Cancel(pid.PID{}, mustPID(client), "again")
	link.open()
	const want = "notice:ws.leave ws.join ws.leave"
	untilGot(t, link.gateLink, want, "the join, then one leave, once there is room")
	poll.Until(t, timeout, "the connection process to end", func() bool { return !node.Alive(mustPID(client)) })
	if _, got := link.state(); got != want {
		t.Fatalf("the link accepted %q, want %q", got, want)
	}
	if strings.Contains(logs.String(), "cannot send to the relay target") {
		t.Errorf("a join or leave was dropped: %s", logs)
	}
}

// TestOutsideCloseWhileTransferWaitsForRoom: a transfer whose ws.leave and
// ws.join wait for room toward the targets' node does not hold up the
// connection: a ws.close sent to it meanwhile closes the client at once.
// Once the queue has room, the old target gets its leave, the new one its
// join and then its leave, in that order, once each.
func TestOutsideCloseWhileTransferWaitsForRoom(t *testing.T) {
	logs := &testlog.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	link := &pidLink{gateLink: &gateLink{room: make(chan struct{})}}
	rl, e := overLink(t, log, link, nil, pid.PID{Node: "n2", Host: host, ID: 7})
	c := e.dial(t, nil)
	poll.Until(t, timeout, "the join", func() bool {
		_, got := link.state()
		return got == "notice:ws.leave ws.join"
	})
	client := link.clientPID()
	if client == "" {
		t.Fatal("no client PID in the join")
	}
	node := wsrelay.RelayNode(rl)
	link.close()
	newTarget := pid.PID{Node: "n2", Host: host, ID: 8}
	if err := node.SendDest(pid.PID{}, client, wsrelay.TopicControl, value.Map(value.Field{Key: "target_pid", Value: value.String(newTarget.String())})); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "the old target's leave to be refused for the full queue", func() bool {
		refused, _ := link.state()
		return refused > 0
	})
	if err := node.SendDest(pid.PID{}, client, wsrelay.TopicClose, value.Map(value.Field{Key: "code", Value: value.Int(4001)}, value.Field{Key: "reason", Value: value.String("done")})); err != nil {
		t.Fatal(err)
	}
	// The queue stays full: the close cannot wait for it.
	wantClose(t, c, 4001, "done")
	link.open()
	const want = "notice:ws.leave ws.join ws.leave ws.join monitor notice:ws.leave ws.leave"
	untilGot(t, link.gateLink, want, "the leave, the join and the leave, once there is room")
	if strings.Contains(logs.String(), "cannot send to the relay target") {
		t.Errorf("a join or leave was dropped: %s", logs)
	}
	poll.Until(t, timeout, "the connection process to end", func() bool { return !node.Alive(mustPID(client)) })
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rl.Shutdown(ctx)
}

// untilGot waits until the link has accepted want, in order; on failure
// it says what it accepted.
func untilGot(t *testing.T, link *gateLink, want, msg string) {
	t.Helper()
	var got string
	defer func() {
		if t.Failed() {
			t.Logf("the link accepted %q, want %q", got, want)
		}
	}()
	poll.Until(t, timeout, msg, func() bool {
		_, got = link.state()
		return got == want
	})
}
