package examples_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wsrelay/wsrelay/internal/browsertest"
)

// The page tests drive Chromium through internal/browsertest.
var (
	page     = browsertest.Page
	run      = browsertest.Run
	waitText = browsertest.WaitText
)

func joinChat(t *testing.T, ctx context.Context, base, nick string) {
	t.Helper()
	run(t, ctx, "join as "+nick,
		chromedp.Navigate(base+"/"),
		chromedp.WaitReady("body[data-ready]"),
		chromedp.SendKeys("#nick", nick),
		chromedp.Click("#join"),
	)
	waitText(t, ctx, "#status", "Connected to #lobby as "+nick)
}

// enterRoom opens the chat page at base and joins room as nick.
func enterRoom(t *testing.T, ctx context.Context, base, nick, room string) {
	t.Helper()
	run(t, ctx, nick+" joins "+room,
		chromedp.Navigate(base+"/"),
		chromedp.WaitReady("body[data-ready]"),
		chromedp.SendKeys("#nick", nick),
		chromedp.Clear("#room"),
		chromedp.SendKeys("#room", room),
		chromedp.Click("#join"),
	)
	waitText(t, ctx, "#status", "Connected to #"+room+" as "+nick)
}

// TestChatInBrowser: two pages chat through the example app, a duplicate
// nick gets a clear message, and a page from another origin is refused.
func TestChatInBrowser(t *testing.T) {
	alice, bob := page(t), page(t)
	addr, _, logs := startExample(t, "chat", "chat:gateway")
	base := "http://" + addr

	joinChat(t, alice, base, "alice")
	joinChat(t, bob, base, "bob")
	waitText(t, alice, "#members", "bob")
	waitText(t, bob, "#members", "alice")

	run(t, alice, "alice says hello", chromedp.SendKeys("#text", "hello from alice"), chromedp.Click("#send"))
	waitText(t, bob, "#messages", "hello from alice")
	run(t, bob, "bob answers", chromedp.SendKeys("#text", "hi alice"), chromedp.Click("#send"))
	waitText(t, alice, "#messages", "hi alice")

	// Switching rooms.
	run(t, bob, "bob switches to games", chromedp.SendKeys("#switch-room", "games"), chromedp.Click("#switch"))
	waitText(t, bob, "#room-name", "games")
	waitText(t, alice, "#messages", "bob left.")

	// A second alice is told why she was turned away.
	again := page(t)
	run(t, again, "a second alice", chromedp.Navigate(base+"/"), chromedp.WaitReady("body[data-ready]"), chromedp.SendKeys("#nick", "alice"), chromedp.Click("#join"))
	waitText(t, again, "#status", "The nick alice is taken in #lobby. Pick another one.")
	shown, err := chromedp.Run(again, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("#chat")).display + " " + getComputedStyle(document.querySelector("#join-form")).display`))
	if err != nil || shown != "none flex" {
		t.Errorf("after the close the page shows chat/join as %q (%v), want the join form only", shown, err)
	}

	// A page served from another origin cannot open the chat's WebSocket.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<!doctype html><p id="result">connecting</p><script>
const ws = new WebSocket("ws://%s/ws/chat?nick=mallory&room=lobby");
ws.onopen = () => { document.getElementById("result").textContent = "opened"; };
ws.onclose = (e) => { document.getElementById("result").textContent = "closed " + e.code; };
</script>`, addr)
	}))
	defer other.Close()
	evil := page(t)
	run(t, evil, "open the other origin's page", chromedp.Navigate(other.URL))
	waitText(t, evil, "#result", "closed 1006")
	if !strings.Contains(logs.String(), "websocket origin refused") {
		t.Errorf("the server did not log the refused origin:\n%s", logs)
	}
}
