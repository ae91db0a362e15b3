package observer_test

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wsrelay/wsrelay/internal/browsertest"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// TestPagesInBrowser: in a real browser, each page shows its view live;
// a process name made of markup shows as text and adds no element; the
// processes page filters. Screenshots of each page go to
// $TMPDIR/wsrelay-observer (docs/observer.png is one of them).
func TestPagesInBrowser(t *testing.T) {
	o, node := start(t, "")
	waiter(t, node, `<img src=x onerror="document.title='owned'">`)
	plain := waiter(t, node, "plain-name")
	for i := 2; i <= 6; i++ { // more names than a row lists
		if err := node.Register(fmt.Sprintf("plain-%d", i), plain); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 120 { // more than a page of rows
		waiter(t, node, fmt.Sprintf("filler-%03d", i))
	}
	base := "http://" + o.Addr()
	ctx := browsertest.Page(t)
	shots := filepath.Join(os.TempDir(), "wsrelay-observer")
	os.MkdirAll(shots, 0o755)
	shot := func(name string) {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Errorf("screenshot of %s: %v", name, err)
			return
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Log(err)
		}
	}

	browsertest.Run(t, ctx, "open the overview", chromedp.Navigate(base+"/"))
	browsertest.WaitText(t, ctx, "#status", "live")
	browsertest.WaitText(t, ctx, "main", "Goroutines")
	browsertest.WaitText(t, ctx, "main", "frames in /s")
	shot("overview")

	browsertest.Run(t, ctx, "open the processes", chromedp.Navigate(base+"/processes"))
	browsertest.WaitText(t, ctx, "main", `<img src=x onerror="document.title='owned'">`)
	if n := browsertest.Eval[int](t, ctx, "images in the page", `document.querySelectorAll("main img").length`); n != 0 {
		t.Errorf("a process name became %d <img> elements", n)
	}
	if title := browsertest.Eval[string](t, ctx, "the title", `document.title`); strings.Contains(title, "owned") {
		t.Errorf("a process name ran script: title %q", title)
	}
	browsertest.WaitText(t, ctx, "#range", "1–100 of")
	shot("processes")
	t.Logf("the processes page's last update rendered in %s ms", browsertest.Eval[string](t, ctx, "render time", `document.body.dataset.renderMs`))
	browsertest.Run(t, ctx, "filter", chromedp.SendKeys(`input[type=search]`, "plain"))
	browsertest.WaitText(t, ctx, "#range", "1–1 of 1")
	browsertest.WaitText(t, ctx, "main table", "plain-name")
	browsertest.WaitText(t, ctx, "main table", "… (6)")

	browsertest.Run(t, ctx, "open the names", chromedp.Navigate(base+"/names"))
	browsertest.WaitText(t, ctx, "main", "plain-name")
	shot("names")
	crasher, _ := node.Spawn("app", func(p *process.Process) (value.Value, error) {
		return value.Nil(), errors.New("kaboom <b>bold</b>")
	}, process.SpawnOptions{Entry: "app:crasher", Quiet: true})
	browsertest.Run(t, ctx, "open the crashes", chromedp.Navigate(base+"/crashes"))
	browsertest.WaitText(t, ctx, "main", "kaboom <b>bold</b>")
	shot("crashes")
	browsertest.Run(t, ctx, "open the crashed process", chromedp.Navigate(base+"/processes/"+url.PathEscape(crasher.String())))
	browsertest.WaitText(t, ctx, "main", "Not running: it ended with the error below.")
	browsertest.WaitText(t, ctx, "main pre", "kaboom <b>bold</b>")
	browsertest.Run(t, ctx, "open the groups", chromedp.Navigate(base+"/groups"))
	browsertest.WaitText(t, ctx, "main", "No process groups")
}

// TestTokenInBrowser: a page opened with ?token= comes live at its
// address without the token, the cookie carrying it.
func TestTokenInBrowser(t *testing.T) {
	o, _ := start(t, "s3cret")
	ctx := browsertest.Page(t)
	browsertest.Run(t, ctx, "open the processes with the token", chromedp.Navigate("http://"+o.Addr()+"/processes?token=s3cret"))
	browsertest.WaitText(t, ctx, "#status", "live")
	browsertest.WaitText(t, ctx, "#range", "of")
	if addr := browsertest.Eval[string](t, ctx, "the address", `location.href`); strings.Contains(addr, "token") {
		t.Fatalf("the address bar shows %q", addr)
	}
}
