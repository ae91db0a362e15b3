package examples_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

const chromium = "/usr/bin/chromium"

// newBrowser starts headless Chromium, or skips the test when it is not
// installed (.ci/run installs it).
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Skipf("browser test: %s is not installed", chromium)
	}
	// chromedp's defaults keep background tabs running (several pages chat
	// here at once); the rest keeps Chromium off the network, which this
	// machine does not have.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		// Without site isolation a tab keeps its renderer when it moves to
		// another origin; with it, the second navigation of a tab to a new
		// origin never reported its load here.
		chromedp.Flag("disable-site-isolation-trials", true),
		chromedp.Flag("disable-features", "IsolateOrigins,site-per-process,Translate,BlinkGenPropertyTrees"),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, so that its start-up counts against no step.
	if _, err := chromedp.Run(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// page opens a page in a browser of its own. (With chromedp v0.23, a
// second tab of one browser here stopped answering Evaluate after its
// first navigation; the first tab of each browser does not.)
func page(t *testing.T) context.Context { return newBrowser(t) }

func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Steps(steps...)); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// waitText polls the page until the element's text contains want. It
// evaluates afresh each time, so a passing protocol error (an execution
// context replaced while the page settles) only costs one round.
func waitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	expr := fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)
	deadline := time.Now().Add(timeout)
	var got string
	var err error
	for time.Now().Before(deadline) {
		c, cancel := context.WithTimeout(ctx, 2*time.Second)
		got, err = chromedp.Run(c, chromedp.Evaluate[string](expr))
		cancel()
		if err == nil && strings.Contains(got, want) {
			return
		}
		time.Sleep(20 * time.Millisecond) // polling the page with a deadline
	}
	t.Fatalf("%s never contained %q (it reads %q, last error %v)", sel, want, got, err)
}

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
