package examples_test

import (
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
