package examples_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/browsertest"
	"github.com/wsrelay/wsrelay/internal/testlog"
)

// startChatAt serves examples/chat on addr (through its ${env:ADDR}
// reference) and returns the app and the address it listens on. stop
// shuts it down; it is also called when the test ends.
func startChatAt(t *testing.T, addr string) (stop func(), bound string) {
	t.Helper()
	t.Setenv("ADDR", addr)
	cfg, err := config.LoadDir("chat", config.StandardKinds())
	if err != nil {
		t.Fatal(err)
	}
	logs, log := testlog.New(slog.LevelInfo)
	app, err := gateway.Build(cfg, gateway.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := app.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v\n%s", err, logs)
		}
	}
	t.Cleanup(stop)
	a, _ := app.Addr("chat:gateway")
	return stop, a.String()
}

// TestChatPageDetails: the nick pattern works in the browser (a bad nick
// never reaches the server), own messages and "you" are marked, lines show
// times and wrap under their text, the header stays one line, and the nick
// is remembered across reloads.
func TestChatPageDetails(t *testing.T) {
	alice, bob := page(t), page(t)
	addr, _, logs := startExample(t, "chat", "chat:gateway")
	base := "http://" + addr

	// 13: the pattern compiles (v flag) and refuses a bad nick in the page.
	run(t, alice, "type a bad nick",
		chromedp.Navigate(base+"/"),
		chromedp.WaitReady("body[data-ready]"),
		chromedp.SendKeys("#nick", "bad nick!"),
		chromedp.Click("#join"),
	)
	if got := browsertest.Eval[string](t, alice, "validity", `(() => { const n = document.querySelector("#nick");
		return n.validity.patternMismatch + " " + (n.validationMessage !== "") + " " + document.querySelector("#status").textContent; })()`); got != "true true Not connected." {
		t.Errorf("bad nick: validity/status %q, want the pattern to refuse it before connecting", got)
	}
	if strings.Contains(logs.String(), "bad nick") || strings.Contains(logs.String(), "nick=bad") {
		t.Errorf("the bad nick reached the server:\n%s", logs)
	}
	if ok := browsertest.Eval[bool](t, alice, "pattern", `(() => { const n = document.querySelector("#nick"); n.value = "a-b_9"; return n.checkValidity(); })()`); !ok {
		t.Error("a good nick with '-' and '_' is refused by the pattern")
	}
	run(t, alice, "clear the nick", chromedp.Clear("#nick"))

	joinChat(t, alice, base, "alice")
	joinChat(t, bob, base, "bob")
	waitText(t, alice, "#members", "bob")
	waitText(t, alice, "#members", "alice (you)")
	if got := browsertest.Eval[string](t, bob, "bob's members", `document.querySelector("#members").textContent`); !strings.Contains(got, "bob (you)") || strings.Contains(got, "alice (you)") {
		t.Errorf("bob's member list %q", got)
	}

	long := strings.Repeat("a long message that has to wrap ", 12)
	run(t, alice, "alice says something long", chromedp.SendKeys("#text", long), chromedp.Click("#send"))
	waitText(t, bob, "#messages", "a long message")
	waitText(t, alice, "#messages", "a long message")
	// 15: own messages are marked; others' are not.
	if got := browsertest.Eval[string](t, alice, "own", `document.querySelector("#messages li:last-child").className`); !strings.Contains(got, "own") {
		t.Errorf("alice's own message has class %q, want own", got)
	}
	if got := browsertest.Eval[string](t, bob, "other", `document.querySelector("#messages li:last-child").className`); strings.Contains(got, "own") {
		t.Errorf("bob sees alice's message marked as his own: %q", got)
	}
	// Every line shows a time.
	if got := browsertest.Eval[string](t, bob, "time", `document.querySelector("#messages li:last-child time").textContent`); len(got) != 5 || got[2] != ':' {
		t.Errorf("message time %q, want HH:MM", got)
	}
	// Wrapped lines start under the text, not under the time.
	wrap := browsertest.Eval[[]float64](t, bob, "wrap", `(() => {
		const li = document.querySelector("#messages li:last-child");
		const rects = [...li.querySelector(".text").getClientRects()];
		const r = document.createRange(); r.selectNodeContents(li.querySelector(".text"));
		const lines = [...r.getClientRects()];
		return [lines.length, Math.min(...lines.map(x => x.left)), li.getBoundingClientRect().left, li.querySelector(".nick").getBoundingClientRect().right];
	})()`)
	if len(wrap) != 4 || wrap[0] < 2 || wrap[1] < wrap[3] {
		t.Errorf("a long message: %v lines, leftmost line at %v, line starts at %v, nick ends at %v: wrapped lines should start after the nick", wrap[0], wrap[1], wrap[2], wrap[3])
	}
	// The header keeps to one line, even in a narrow window with a long status.
	run(t, bob, "narrow window", chromedp.EmulateViewport(360, 700))
	header := browsertest.Eval[[]float64](t, bob, "header", `(() => {
		document.querySelector("#status").textContent = "a very long status line that would wrap the header in a narrow window";
		const h = document.querySelector("header"), h1 = document.querySelector("h1");
		return [h.getBoundingClientRect().height, parseFloat(getComputedStyle(h1).lineHeight)];
	})()`)
	if header[0] >= 2*header[1] {
		t.Errorf("header is %vpx tall with %vpx lines: it wrapped", header[0], header[1])
	}

	// 14: the nick (and room) are remembered across a reload.
	run(t, alice, "reload", chromedp.Reload(), chromedp.WaitReady("body[data-ready]"))
	if got := browsertest.Eval[string](t, alice, "nick after reload", `document.querySelector("#nick").value + " " + document.querySelector("#room").value`); got != "alice lobby" {
		t.Errorf("after a reload the join form reads %q, want the nick and room kept", got)
	}
}

// TestChatReconnects: after a server restart the page reconnects by
// itself, rejoins the room it was in, and keeps its messages.
func TestChatReconnects(t *testing.T) {
	alice := page(t)
	stop, addr := startChatAt(t, "127.0.0.1:0")
	base := "http://" + addr
	enterRoom(t, alice, base, "alice", "den")
	run(t, alice, "say before", chromedp.SendKeys("#text", "before the restart"), chromedp.Click("#send"))
	waitText(t, alice, "#messages", "before the restart")

	stop()
	waitText(t, alice, "#status", "Reconnecting")
	startChatAt(t, addr) // the same port

	waitText(t, alice, "#status", "Connected to #den as alice")
	waitText(t, alice, "#messages", "Reconnected to #den.")
	waitText(t, alice, "#room-name", "den")
	if got := browsertest.Eval[string](t, alice, "messages", `document.querySelector("#messages").textContent`); !strings.Contains(got, "before the restart") {
		t.Errorf("the messages were wiped by the reconnection: %q", got)
	}
	run(t, alice, "say after", chromedp.SendKeys("#text", "after the restart"), chromedp.Click("#send"))
	waitText(t, alice, "#messages", "after the restart")
	if shown := browsertest.Eval[bool](t, alice, "chat shown", `!document.querySelector("#chat").hidden`); !shown {
		t.Error("the chat is hidden after reconnecting")
	}
}
