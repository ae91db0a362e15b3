// Package browsertest drives headless Chromium (chromedp) for the tests of
// pages the project serves: a browser per page, steps with a deadline, and
// polling of a page's text. Tests skip when Chromium is not installed
// (.ci/run installs it).
package browsertest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Chromium is where the browser is expected.
const Chromium = "/usr/bin/chromium"

// Timeout bounds every step and every wait: generous, since it only
// matters when something is wrong and a loaded machine is slow.
const Timeout = 30 * time.Second

// Page starts headless Chromium with one page, or skips the test when it
// is not installed; the browser stops when the test ends. Each page has a
// browser of its own: with chromedp v0.23, a second tab of one browser
// here stopped answering Evaluate after its first navigation.
func Page(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(Chromium); err != nil {
		t.Skipf("browser test: %s is not installed", Chromium)
	}
	// chromedp's defaults keep background tabs running (several pages chat
	// at once); the rest keeps Chromium off the network, which this
	// machine does not have.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(Chromium),
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

// Run runs steps on the page within Timeout; what names them in a failure.
func Run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Steps(steps...)); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// Eval evaluates expr on the page.
func Eval[T any](t *testing.T, ctx context.Context, what, expr string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// WaitText polls the page until the element's text contains want. It
// evaluates afresh each time, so a passing protocol error (an execution
// context replaced while the page settles) only costs one round.
func WaitText(t *testing.T, ctx context.Context, sel, want string) {
	t.Helper()
	WaitTextWithin(t, ctx, Timeout, sel, want)
}

// WaitTextWithin is WaitText with a deadline of its own, for a wait that
// includes a known delay (a node declared down after its heartbeat
// timeout, a page's reconnection back-off).
func WaitTextWithin(t *testing.T, ctx context.Context, d time.Duration, sel, want string) {
	t.Helper()
	expr := fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel)
	deadline := time.Now().Add(d)
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
