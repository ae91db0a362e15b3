package wsrelay_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// TestOrderUnderConcurrentSends: frames that several senders send to one
// client at once, written inline or by the writer as the socket allows,
// reach the client whole and in each sender's order.
func TestOrderUnderConcurrentSends(t *testing.T) {
	const senders, each = 4, 300
	// Room for every frame at once: the client may read slower than the
	// senders send, and this is about order, not bounds.
	e := newEnv(t, wsrelay.Options{OutboundQueue: 2 * senders * each})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client := mustPID(str(tg.Next("ws.join"), "client_pid"))
	var wg sync.WaitGroup
	for s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pad := strings.Repeat("x", s*700) // some small, some larger frames
			for i := range each {
				_ = e.node.Send(pid.PID{}, client, "ws.send", value.String(fmt.Sprintf("%d:%d:%s", s, i, pad)))
			}
		}()
	}
	next := make([]int, senders)
	for range senders * each {
		msg, err := c.ReadText()
		if err != nil {
			t.Fatalf("after %v frames: %v\n%s", next, err, e.logs)
		}
		parts := strings.SplitN(msg, ":", 3)
		s, _ := strconv.Atoi(parts[0])
		i, _ := strconv.Atoi(parts[1])
		if s < 0 || s >= senders || i != next[s] || len(parts[2]) != s*700 {
			t.Fatalf("sender %d: frame %d (%d bytes of padding), want frame %d", s, i, len(parts[2]), next[s])
		}
		next[s]++
	}
	wg.Wait()
}

// TestClientThatDoesNotReadNeverHoldsUpItsSender: frames small enough to
// be written inline, sent to a client that reads nothing, never hold up
// the connection's process (nor whoever sends to it): the socket's buffer
// fills, the frames wait in the outbound queue, and the client is closed
// as slow_consumer once they would pass its bounds. The write timeout is
// an hour, so only the bounds can close it: a write that waited for the
// client would leave it open.
func TestClientThatDoesNotReadNeverHoldsUpItsSender(t *testing.T) {
	e := newEnv(t, wsrelay.Options{WriteTimeout: time.Hour})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	e.dial(t, nil) // it never reads
	client := mustPID(str(tg.Next("ws.join"), "client_pid"))
	frame := value.String(strings.Repeat("y", 32<<10))
	const most = 4096 // 128 MiB: far past the queue's bounds and any socket buffer
	var sent atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range most {
			select {
			case <-stop:
				return
			default:
			}
			if !e.node.Alive(client) {
				return // closed: what it would send now is not sent to it
			}
			// Paced by the connection's mailbox, which its process empties
			// only as fast as it queues or writes.
			for e.node.MailboxLen(client) > 64 {
				select {
				case <-stop:
					return
				case <-e.node.MailboxRoom(client, 32):
				}
			}
			_ = e.node.Send(pid.PID{}, client, "ws.send", frame)
			sent.Add(1)
		}
	}()
	m := tg.Next("ws.leave")
	close(stop)
	<-done
	if str(m, "reason") != "slow_consumer" {
		t.Fatalf("ws.leave %v, want reason slow_consumer", m.Payload)
	}
	if n := sent.Load(); n >= most {
		t.Fatalf("every one of %d frames was sent before the client was closed", n)
	}
	poll.Until(t, timeout, "the connection's process to end", func() bool { return !e.node.Alive(client) })
}

// TestFramesCountedEachWay: a connection counts the client's frames it
// relayed and the data frames it wrote to the client.
func TestFramesCountedEachWay(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client := str(tg.Next("ws.join"), "client_pid")
	for i := range 3 {
		if err := c.WriteText("m" + strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		if s, err := c.ReadText(); err != nil || s != "m"+strconv.Itoa(i) {
			t.Fatalf("echo %q %v", s, err)
		}
	}
	tg.Send(client, "ws.send", value.String("one more"))
	if s, err := c.ReadText(); err != nil || s != "one more" {
		t.Fatalf("%q %v", s, err)
	}
	var got []wsrelay.FrameCounts
	poll.Until(t, timeout, "the counts", func() bool {
		got = wsrelay.ConnFrames(e.rl)
		return len(got) == 1 && got[0] == wsrelay.FrameCounts{In: 3, Out: 4}
	})
}

// TestFramesWholeAcrossAFullSocket: frames written inline to a client
// that stops reading fill its socket, the frame the socket takes part of
// is finished by the writer, and the rest wait in the queue; once the
// client reads, every frame arrives whole and in order.
func TestFramesWholeAcrossAFullSocket(t *testing.T) {
	// 24 MiB: past what a loopback socket's buffers take, within the
	// queue's bounds.
	const n, size = 800, 30 << 10
	e := newEnv(t, wsrelay.Options{WriteTimeout: time.Hour, OutboundQueue: 2 * n, OutboundMaxBytes: 2 * n * size})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client := mustPID(str(tg.Next("ws.join"), "client_pid"))
	for i := range n {
		for e.node.MailboxLen(client) > 16 {
			<-e.node.MailboxRoom(client, 8)
		}
		body := fmt.Sprintf("%04d", i) + strings.Repeat(string(rune('a'+i%26)), size-4)
		if err := e.node.Send(pid.PID{}, client, "ws.send", value.String(body)); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, timeout, "frames to wait in the queue (the socket is full)", func() bool { return e.rl.OutboundBytes() > 0 })
	for i := range n {
		s, err := c.ReadText()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		want := fmt.Sprintf("%04d", i) + strings.Repeat(string(rune('a'+i%26)), size-4)
		if s != want {
			t.Fatalf("frame %d: %d bytes beginning %.8q, want %d bytes beginning %.8q", i, len(s), s, len(want), want)
		}
	}
}
