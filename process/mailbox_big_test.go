package process_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// TestMailboxRoomForABigMessage: a message larger than half a mailbox's
// bytes is refused while the mailbox holds more than half its bytes.
// MailboxRoom must then not signal room until the message gets in (the
// relay, which waits on it and tries again, would spin at full speed
// until the target took its messages).
func TestMailboxRoomForABigMessage(t *testing.T) {
	t.Parallel()
	const bound = 64 << 10
	n := newNode(t, &process.HostOptions{MailboxSize: 1000, MailboxBytes: bound}, nil)
	take := make(chan struct{})
	took := make(chan string)
	to, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
		for range take {
			m, ok := p.Receive(p.Context())
			if !ok {
				return value.Nil(), nil
			}
			took <- m.Topic
		}
		return value.Nil(), nil
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(take) })

	if _, err := n.TrySend(pid.PID{}, to, "small", value.String(strings.Repeat("s", 40<<10))); err != nil {
		t.Fatal(err)
	}
	big := value.BytesString(strings.Repeat("b", 48<<10))
	if _, err := n.TrySend(pid.PID{}, to, "big", big); !errors.Is(err, process.ErrMailboxFull) {
		t.Fatalf("a 48 KiB message after 40 KiB into a 64 KiB mailbox: %v, want ErrMailboxFull", err)
	}
	room := n.MailboxRoom(to, 0)
	select {
	case <-room:
		if _, err := n.TrySend(pid.PID{}, to, "big", big); errors.Is(err, process.ErrMailboxFull) {
			t.Fatalf("MailboxRoom signalled room, yet the message it waited for is still refused: a sender would spin")
		}
	default:
	}
	take <- struct{}{}
	if got := <-took; got != "small" {
		t.Fatalf("took %q, want small", got)
	}
	<-room // the mailbox is empty: the big message fits
	if _, err := n.TrySend(pid.PID{}, to, "big", big); err != nil {
		t.Fatalf("the big message once room was signalled: %v", err)
	}
}
