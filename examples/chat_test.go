package examples_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/wsrelay/wsrelay/internal/wsclient"
)

// event is what the chat sends its pages.
type event struct {
	Event   string `json:"event"`
	Room    string `json:"room"`
	Nick    string `json:"nick"`
	Text    string `json:"text"`
	Reason  string `json:"reason"`
	Members any    `json:"members"` // a list, or {} when empty
}

func (e event) members() []string {
	var out []string
	if l, ok := e.Members.([]any); ok {
		for _, m := range l {
			s, _ := m.(string)
			out = append(out, s)
		}
	}
	return out
}

type chatter struct {
	t *testing.T
	c *wsclient.Client
}

func join(t *testing.T, addr, nick, room string) *chatter {
	t.Helper()
	u := "ws://" + addr + "/ws/chat?nick=" + url.QueryEscape(nick) + "&room=" + url.QueryEscape(room)
	c, resp, err := wsclient.Dial(u, http.Header{"Origin": {"http://" + addr}})
	if err != nil {
		t.Fatalf("join %s: %v %+v", nick, err, resp)
	}
	t.Cleanup(func() { c.Close() })
	return &chatter{t: t, c: c}
}

// until reads events until one of the kind arrives.
func (ch *chatter) until(kind string) event {
	ch.t.Helper()
	for {
		s, err := ch.c.ReadText()
		if err != nil {
			ch.t.Fatalf("waiting for %s: %v", kind, err)
		}
		var e event
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			ch.t.Fatalf("not JSON: %q", s)
		}
		if e.Event == kind {
			return e
		}
	}
}

func (ch *chatter) send(cmd map[string]string) {
	ch.t.Helper()
	b, _ := json.Marshal(cmd)
	if err := ch.c.WriteText(string(b)); err != nil {
		ch.t.Fatal(err)
	}
}

func TestChat(t *testing.T) {
	addr, _, _ := startExample(t, "chat", "chat:gateway")

	alice := join(t, addr, "alice", "lobby")
	if w := alice.until("welcome"); w.Room != "lobby" || w.Nick != "alice" || !slices.Equal(w.members(), []string{"alice"}) {
		t.Fatalf("welcome %+v", w)
	}
	bob := join(t, addr, "bob", "lobby")
	bob.until("welcome")
	if j := alice.until("joined"); j.Nick != "bob" || !slices.Equal(j.members(), []string{"alice", "bob"}) {
		t.Errorf("alice saw %+v", j)
	}

	alice.send(map[string]string{"type": "say", "text": "hello bob"})
	if m := bob.until("message"); m.Nick != "alice" || m.Text != "hello bob" || m.Room != "lobby" {
		t.Errorf("bob got %+v", m)
	}

	// A nick already in the room is refused with a reason the page shows.
	dup := join(t, addr, "alice", "lobby")
	if e := dup.until("error"); e.Text != "the nick alice is taken in #lobby" {
		t.Errorf("duplicate nick: %+v", e)
	}
	if code, reason, _ := dup.c.ReadClose(); code != 4002 || reason != "nick taken" {
		t.Errorf("duplicate nick closed with %d %q", code, reason)
	}
	// So is a nick the chat does not accept.
	bad := join(t, addr, "no spaces!", "lobby")
	if code, _, _ := bad.c.ReadClose(); code != 4001 {
		t.Errorf("invalid nick closed with %d", code)
	}

	// Switching rooms moves the connection to the other room's process.
	alice.send(map[string]string{"type": "switch", "room": "games"})
	if w := alice.until("welcome"); w.Room != "games" || !slices.Equal(w.members(), []string{"alice"}) {
		t.Errorf("alice in games: %+v", w)
	}
	if l := bob.until("left"); l.Nick != "alice" || l.Reason != "transferred" || !slices.Equal(l.members(), []string{"bob"}) {
		t.Errorf("bob saw %+v", l)
	}
	alice.send(map[string]string{"type": "say", "text": "anyone here?"})
	if m := alice.until("message"); m.Room != "games" {
		t.Errorf("alice's message went to %+v", m)
	}

	// Heartbeats keep the member list fresh (every 5 s).
	if p := bob.until("presence"); !slices.Equal(p.members(), []string{"bob"}) {
		t.Errorf("presence %+v", p)
	}

	// Leaving tells the room.
	carol := join(t, addr, "carol", "lobby")
	carol.until("welcome")
	bob.until("joined")
	carol.c.WriteClose(1000, "bye")
	if l := bob.until("left"); l.Nick != "carol" || l.Reason != "client_closed" {
		t.Errorf("bob saw %+v", l)
	}

	// A plain GET of the WebSocket endpoint spawns nothing and gets 426.
	resp, err := http.Get("http://" + addr + "/ws/chat?nick=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 426 {
		t.Errorf("plain GET: %d", resp.StatusCode)
	}
	// The page is served.
	resp, err = http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET /: %d", resp.StatusCode)
	}
}
