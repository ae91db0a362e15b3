package docs_test

import (
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
)

// TestPGApp drives the process-groups app of docs/pg.md: two clients in
// the lobby hear each other, and one that closes is announced.
func TestPGApp(t *testing.T) {
	app := startApp(t, "snippets/pg")
	addr, _ := app.Addr("app:gateway")
	// The room is a service: it registers its name a moment after the
	// app starts (a client before that is refused, 500).
	poll.Until(t, timeout, "the room service to run", func() bool {
		_, ok := app.Node().Lookup("app:room")
		return ok
	})
	dial := func(nick string) *wsclient.Client {
		c, resp, err := wsclient.Dial("ws://"+addr.String()+"/ws/room?nick="+nick, nil)
		if err != nil {
			t.Fatalf("%v %+v", err, resp)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	expect := func(c *wsclient.Client, want string) {
		t.Helper()
		if got, err := c.ReadText(); got != want || err != nil {
			t.Fatalf("got %q %v, want %q", got, err, want)
		}
	}
	ada := dial("ada")
	expect(ada, `{"event":"joined","nick":"ada"}`)
	bob := dial("bob")
	expect(ada, `{"event":"joined","nick":"bob"}`)
	expect(bob, `{"event":"joined","nick":"bob"}`)
	if err := bob.WriteText("hello"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsclient.Client{ada, bob} {
		expect(c, `{"event":"message","nick":"bob","text":"hello"}`)
	}
	bob.WriteClose(1000, "bye")
	if got, err := ada.ReadText(); !strings.Contains(got, `"event":"left","nick":"bob"`) || err != nil {
		t.Fatalf("after bob left: %q %v", got, err)
	}
}
