package examples_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/browsertest"
	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
)

// startChatPair starts chat nodes a and b on one NATS, waits until each
// sees the other, and returns their addresses and cut, which closes node
// a's NATS connection without a goodbye: b loses a once its heartbeats
// stop, as when a's process is killed.
func startChatPair(t *testing.T) (addrA, addrB string, cut func()) {
	t.Helper()
	s := natstest.StartJetStream(t)
	var ms []*clustertest.Member
	var addrs []string
	for _, name := range []string{"a", "b"} {
		m := clustertest.Join(t, s.ClientURL(), name, nil)
		app, _ := apptest.StartWith(t, "chat", gateway.Options{NodeName: name, Transport: m.Transport, ClusterNames: m.Names},
			func(app *gateway.App) { m.Start(t, app.Node(), true) })
		ms = append(ms, m)
		addrs = append(addrs, apptest.Addr(t, app, "chat:gateway"))
	}
	poll.Until(t, timeout, "the two nodes see each other", func() bool {
		return slices.Contains(ms[0].Transport.Peers(), "b") && slices.Contains(ms[1].Transport.Peers(), "a")
	})
	return addrs[0], addrs[1], ms[0].Conn.Close
}

// nextOrClose reads until an event of the kind or a close frame; it
// returns the event, or the close's code and reason. A connection that
// stays open and silent fails the test (the read's deadline).
func (ch *chatter) nextOrClose(kind string) (e event, code int, reason string) {
	ch.t.Helper()
	for {
		op, data, err := ch.c.ReadMessage()
		if op == wsclient.OpClose {
			f := wsclient.Frame{Payload: data}
			return event{}, f.CloseCode(), f.CloseReason()
		}
		if err != nil {
			ch.t.Fatalf("waiting for %s or a close: %v", kind, err)
		}
		if err := json.Unmarshal(data, &e); err != nil {
			ch.t.Fatalf("not JSON: %q", data)
		}
		if e.Event == kind {
			return e, 0, ""
		}
	}
}

// TestChatRoomNodeLost is the README's two-node chat when the node that
// runs a room is lost: its member on the other node is closed with 1011
// "target node lost", and when it connects again to the surviving node it
// is either welcomed into the room again (and its message goes through)
// or closed with the reason, never left open with its messages going
// nowhere.
func TestChatRoomNodeLost(t *testing.T) {
	addrA, addrB, cutA := startChatPair(t)
	carol := join(t, addrA, "carol", "dev") // the room starts on node a
	carol.until("welcome")
	alice := join(t, addrB, "alice", "dev")
	if w := alice.until("welcome"); !slices.Equal(w.members(), []string{"alice", "carol"}) {
		t.Fatalf("alice, on node b, was welcomed with %+v; want the room on node a", w)
	}

	cutA()
	if code, reason, err := alice.c.ReadClose(); err != nil || code != 1011 || reason != "target node lost" {
		t.Fatalf("alice's close when the room's node was lost: %d %q (%v); want 1011 \"target node lost\"", code, reason, err)
	}

	again := join(t, addrB, "alice", "dev")
	_ = again.c.WriteText(`{"type":"say","text":"anyone?"}`) // before any welcome: it may meet the close, or reach the room once the client is moved there
	w, code, reason := again.nextOrClose("welcome")
	if code != 0 {
		// Closed with its reason: the room's name still names the lost
		// node's process ("target node lost"), or it is held in the
		// bucket until its release, so no new room can take it yet ("no
		// room"). The page connects again after a back-off.
		if code != 1011 || reason != "target node lost" && reason != "no room" {
			t.Fatalf("alice, connecting again, was closed %d %q; want 1011 \"target node lost\" or \"no room\", or a welcome", code, reason)
		}
		t.Logf("connecting again: closed 1011 %q", reason)
		return
	}
	if w.Room != "dev" {
		t.Fatalf("alice, connecting again, was welcomed into %+v", w)
	}
	again.send(map[string]string{"type": "say", "text": "back"})
	for {
		m, code, reason := again.nextOrClose("message")
		if code != 0 {
			t.Fatalf("alice was closed %d %q before her message after the welcome came back", code, reason)
		}
		if m.Text == "back" {
			break
		}
		if m.Text != "anyone?" {
			t.Fatalf("alice's message after the welcome: got %+v", m)
		}
	}
}

// waitTrue polls the page until the expression is true.
func waitTrue(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	var err error
	var ok bool
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		ok, err = chromedp.Run(c, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling the page with a deadline
	}
	status, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#status").textContent`))
	t.Fatalf("%s: never true (last error %v; status %q)", what, err, status)
}

// pageState is what the page shows about its connection.
const pageState = `JSON.stringify({
	status: document.querySelector("#status").textContent,
	stale: document.querySelector("#members").classList.contains("stale"),
	membersState: document.querySelector("#members-state").textContent,
	box: document.querySelector("#text").value,
	note: document.querySelector("#send-note").hidden ? "" : document.querySelector("#send-note").textContent,
	messages: document.querySelector("#messages").textContent,
})`

type shown struct {
	Status, MembersState, Box, Note, Messages string
	Stale                                     bool
}

func pageShows(t *testing.T, ctx context.Context) shown {
	t.Helper()
	var s shown
	if err := json.Unmarshal([]byte(browsertest.Eval[string](t, ctx, "page state", pageState)), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestChatPageWhileDisconnected: while the server is away the page says
// so: the member list is marked as last known, the status line names each
// attempt and how the last one ended, and a message typed meanwhile stays
// in its box with the reason it was not sent, until the user sends it
// again once connected. A message whose echo from the room never came
// (lost with the connection) is put back in the box the same way.
func TestChatPageWhileDisconnected(t *testing.T) {
	alice := page(t)
	stop, addr := startChatAt(t, "127.0.0.1:0")
	base := "http://" + addr
	bob := join(t, addr, "bob", "den")
	bob.until("welcome")
	enterRoom(t, alice, base, "alice", "den")
	waitText(t, alice, "#members", "bob")
	if s := pageShows(t, alice); s.Stale || s.MembersState != "" || s.Note != "" {
		t.Fatalf("connected, the page shows %+v", s)
	}

	// A message the room never echoes (the page's socket drops it, as a
	// connection that ends with it in flight would), then the server goes.
	browsertest.Eval[bool](t, alice, "drop one frame", `(() => {
		const send = WebSocket.prototype.send;
		WebSocket.prototype.send = function (d) { if (!String(d).includes("lost in transit")) send.call(this, d); };
		return true;
	})()`)
	run(t, alice, "say what is lost", chromedp.SendKeys("#text", "lost in transit"), chromedp.Click("#send"))
	waitTrue(t, alice, "the box emptied by the send", `document.querySelector("#text").value === ""`)
	stop()

	waitText(t, alice, "#status", "(close 1001: server shutting down). Reconnecting")
	waitText(t, alice, "#status", "(attempt 1)")
	s := pageShows(t, alice)
	if !s.Stale || s.MembersState != "(last known)" {
		t.Errorf("disconnected, the member list is not marked: %+v", s)
	}
	if s.Box != "lost in transit" || !strings.Contains(s.Note, "Perhaps not sent") {
		t.Errorf("the unconfirmed message was not put back with a reason: %+v", s)
	}
	// Each attempt is named, with how the last one ended.
	waitText(t, alice, "#status", "(close 1006: no connection). Reconnecting")
	waitText(t, alice, "#status", "(attempt 2)")

	// A message typed while down stays in the box, with why.
	browsertest.Eval[string](t, alice, "empty the box", `document.querySelector("#text").value = ""`)
	run(t, alice, "type while down", chromedp.SendKeys("#text", "typed while down"), chromedp.Click("#send"))
	s = pageShows(t, alice)
	if s.Box != "typed while down" || !strings.Contains(s.Note, "Not sent: disconnected") || !strings.Contains(s.Note, "will not be sent automatically") {
		t.Errorf("a message typed while down: %+v", s)
	}
	if strings.Contains(s.Messages, "typed while down") {
		t.Errorf("a message typed while down is shown as said: %q", s.Messages)
	}

	startChatAt(t, addr) // the same port
	waitText(t, alice, "#status", "Connected to #den as alice")
	s = pageShows(t, alice)
	if s.Stale || s.MembersState != "" || s.Box != "typed while down" || !strings.Contains(s.Note, "press Send") {
		t.Errorf("connected again, the page shows %+v", s)
	}
	run(t, alice, "send it now", chromedp.Click("#send"))
	waitText(t, alice, "#messages", "typed while down")
	waitTrue(t, alice, "the box and the note cleared", `document.querySelector("#text").value === "" && document.querySelector("#send-note").hidden`)
}

// TestChatPageRoomNodeLostInBrowser is the two-node chat in a browser when
// the node that runs the room is lost: the page on the surviving node
// says why it was disconnected (1011 "target node lost"), marks its
// member list as last known, keeps a message typed meanwhile, and then
// either is welcomed again or keeps saying why each attempt failed.
func TestChatPageRoomNodeLostInBrowser(t *testing.T) {
	alice := page(t)
	addrA, addrB, cutA := startChatPair(t)
	carol := join(t, addrA, "carol", "dev") // the room starts on node a
	carol.until("welcome")
	enterRoom(t, alice, "http://"+addrB, "alice", "dev")
	waitText(t, alice, "#members", "carol")

	cutA()
	waitText(t, alice, "#messages", "Disconnected (close 1011: target node lost). Reconnecting")
	// Then: welcomed into a room on node b, or every attempt closed with
	// its reason; the page never shows a connection that goes nowhere.
	waitTrue(t, alice, "the page to be welcomed again or to name a second attempt", `(() => {
		const s = document.querySelector("#status").textContent;
		return s.includes("Connected to #dev as alice") || (s.includes("(attempt 2)") && s.includes("close 1011: target node lost"));
	})()`)
	if s := pageShows(t, alice); !strings.Contains(s.Status, "Connected") {
		if !s.Stale {
			t.Errorf("disconnected, the member list is not marked: %+v", s)
		}
		// An attempt's socket may be open for a moment before its close:
		// a message sent then is put back once the close comes.
		run(t, alice, "type while down", chromedp.SendKeys("#text", "still there?"), chromedp.Click("#send"))
		waitTrue(t, alice, "the message kept in the box with a reason", `document.querySelector("#text").value === "still there?" &&
			/not sent/i.test(document.querySelector("#send-note").textContent) && !document.querySelector("#send-note").hidden`)
	}
}
