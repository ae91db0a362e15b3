package examples_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
)

// TestChatEmptyRoomsEnd: one socket switching rooms many times leaves no
// room behind but its own: a room that its last member left ends, and its
// name is free for the next client, who finds an empty new room.
func TestChatEmptyRoomsEnd(t *testing.T) {
	addr, app, _ := startExample(t, "chat", "chat:gateway")
	h, ok := app.Node().Host("chat:processes")
	if !ok {
		t.Fatal("no host chat:processes")
	}
	live := func() int { return h.Stats().Live }

	ada := join(t, addr, "ada", "r0")
	ada.until("welcome")
	const switches = 200
	for i := 1; i <= switches; i++ {
		room := fmt.Sprintf("r%d", i)
		ada.send(map[string]string{"type": "switch", "room": room})
		if w := ada.until("welcome"); w.Room != room || !slices.Equal(w.members(), []string{"ada"}) {
			t.Fatalf("switch %d: welcomed with %+v", i, w)
		}
	}
	// ada's greeter and the room she is in.
	poll.Until(t, timeout, "the rooms ada left to end", func() bool { return live() <= 2 })
	if n := live(); n != 2 {
		t.Errorf("%d processes after %d switches, want ada's greeter and her room", n, switches)
	}

	// The first room's name was freed: bob starts it again, alone.
	bob := join(t, addr, "bob", "r0")
	if w := bob.until("welcome"); !slices.Equal(w.members(), []string{"bob"}) {
		t.Errorf("bob in r0: %+v", w)
	}
	// Everyone gone: nothing is left.
	ada.c.WriteClose(1000, "bye")
	bob.c.WriteClose(1000, "bye")
	poll.Until(t, timeout, "every room and greeter to end", func() bool { return live() == 0 })
}

// TestChatMemberNodeLost: a member whose node is lost leaves the room on
// the other node, once, with reason node_down, and the room goes on: the
// group's monitor says the member went, though nothing of its node is
// left to say why.
func TestChatMemberNodeLost(t *testing.T) {
	addrA, addrB, cutA := startChatPair(t)
	carol := join(t, addrB, "carol", "ops") // the room starts on node b
	carol.until("welcome")
	alice := join(t, addrA, "alice", "ops")
	alice.until("welcome")
	if j := carol.until("joined"); j.Nick != "alice" {
		t.Fatalf("carol saw %+v", j)
	}

	cutA()
	// Node b sees a lost after its heartbeat timeout (3 s); the room says
	// who is there every 5 s. A leave that has not come after many of
	// those is not coming.
	const ticks = 8
	for presences := 0; ; {
		e := carol.next()
		if e.Event == "left" {
			if e.Nick != "alice" || e.Reason != "node_down" || !slices.Equal(e.members(), []string{"carol"}) {
				t.Errorf("carol saw %+v, want alice left with reason node_down", e)
			}
			break
		}
		if e.Event == "presence" {
			if presences++; presences > ticks {
				t.Fatalf("no leave for alice after %d presence events; the last: %+v", ticks, e)
			}
		}
	}
	// The room goes on, and alice's nick is free again.
	dave := join(t, addrB, "alice", "ops")
	if w := dave.until("welcome"); !slices.Equal(w.members(), []string{"alice", "carol"}) {
		t.Errorf("a new alice on node b was welcomed with %+v", w)
	}
	// Until the next presence, carol hears of no other leave.
	for {
		e := carol.next()
		if e.Event == "left" {
			t.Errorf("a second leave: %+v", e)
		}
		if e.Event == "presence" {
			if !slices.Equal(e.members(), []string{"alice", "carol"}) {
				t.Errorf("presence %+v", e)
			}
			break
		}
	}
}

// next reads the next event.
func (ch *chatter) next() event {
	ch.t.Helper()
	s, err := ch.c.ReadText()
	if err != nil {
		ch.t.Fatalf("reading an event: %v", err)
	}
	var e event
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		ch.t.Fatalf("not JSON: %q", s)
	}
	return e
}
