package examples_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/browsertest"
	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/observer"
)

// TestObserverOfTwoNodeChat: the chat on nodes a and b, the observer on
// a. A client on b appears on a's /connections; its live trace shows
// what it sends, markup as text; closing it from the page gives the
// client the chosen code; once b is lost, b shows as down.
func TestObserverOfTwoNodeChat(t *testing.T) {
	s := natstest.StartJetStream(t)
	var ms []*clustertest.Member
	var apps []*gateway.App
	for _, name := range []string{"a", "b"} {
		m := clustertest.Join(t, s.ClientURL(), name, nil)
		app, _ := apptest.StartWith(t, "chat", gateway.Options{NodeName: name, Transport: m.Transport, ClusterNames: m.Names},
			func(app *gateway.App) { m.Start(t, app.Node(), true) })
		answer := observer.OfApp(app)
		answer.Actions = true // each node lets the observer act on it (--observe-actions there)
		stop, err := observer.Answer(m.Transport, answer)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		ms, apps = append(ms, m), append(apps, app)
	}
	poll.Until(t, timeout, "the two nodes see each other", func() bool {
		return slices.Contains(ms[0].Transport.Peers(), "b") && slices.Contains(ms[1].Transport.Peers(), "a")
	})
	local := observer.OfApp(apps[0])
	obs, err := observer.Start(observer.Options{Addr: "127.0.0.1:0", Token: "tok", Actions: true, Node: local.Node, Groups: local.PG,
		Counters: local.Counters, Conns: local.Conns, Tracer: local.Tracer, Global: local.Global, Cluster: observer.Over(ms[0].Transport)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obs.Close(context.Background()) })
	base := "http://" + obs.Addr()

	bob := page(t)
	joinChat(t, bob, "http://"+apptest.Addr(t, apps[1], "chat:gateway"), "bob")

	// The room's cluster-wide name shows among the names, beside each
	// node's own.
	poll.Until(t, timeout, "the room's cluster-wide name", func() bool {
		req, _ := http.NewRequest("GET", base+"/api/names", nil)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var names []observer.NamesView
		json.NewDecoder(resp.Body).Decode(&names)
		for _, n := range names {
			if n.Node == "cluster" && len(n.Names) > 0 && n.Names[0].Scope == "cluster" {
				return true
			}
		}
		return false
	})

	ops := page(t)
	run(t, ops, "sign in to the observer", chromedp.Navigate(base+"/?token=tok"))
	waitText(t, ops, "main", "b up")
	run(t, ops, "node b's connections", chromedp.Navigate(base+"/connections?node=b"))
	waitText(t, ops, "main table", "/ws/chat?nick=bob")
	bobPID := browsertest.Eval[string](t, ops, "bob's PID", `[...document.querySelectorAll("main table a")].map(a => a.textContent).find(s => s.startsWith("{b@"))`)
	if !strings.HasPrefix(bobPID, "{b@") {
		t.Fatalf("bob's PID on the page: %q", bobPID)
	}

	run(t, ops, "bob's trace", chromedp.Navigate(base+"/connections/"+url.PathEscape(bobPID)+"?node=b&payloads=1"))
	waitText(t, ops, "#status", "live")
	run(t, bob, "bob says something with markup", chromedp.SendKeys("#text", "<b>bold</b> hello"), chromedp.Click("#send"))
	waitText(t, ops, "table.trace", "<b>bold</b> hello")
	if n := browsertest.Eval[int](t, ops, "bold elements", `document.querySelectorAll("main b").length`); n != 0 {
		t.Errorf("a payload became %d <b> elements", n)
	}

	browsertest.Eval[bool](t, ops, "close bob from the page", `act({do: "close", pid: "`+bobPID+`", code: 4321, reason: "closed by ops"}), true`)
	waitText(t, bob, "#status", "close 4321: closed by ops")

	ms[1].Conn.Close() // node b is lost: no goodbye
	run(t, ops, "the overview", chromedp.Navigate(base+"/"))
	waitText(t, ops, "main", "b down")
	if png, err := chromedp.Run(ops, chromedp.FullScreenshot(100)); err == nil {
		dir := filepath.Join(os.TempDir(), "wsrelay-observer")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "cluster.png"), png, 0o644)
	}
}
