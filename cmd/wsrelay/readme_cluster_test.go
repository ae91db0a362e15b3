package main

import (
	"context"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/wsrelay/wsrelay/internal/browsertest"
)

// TestREADMEClusterInBrowser is the README's three-node chat as a user
// runs it, each node a process of its own and two pages in Chromium: the
// room starts on n1, n1 is killed (SIGKILL) and started again, and both
// pages come back into one room and chat, without a reload.
func TestREADMEClusterInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three nodes and two browsers")
	}
	tp := newTopology(t)
	tp.web[0], tp.web[1] = "127.0.0.1:"+strconv.Itoa(freePort(t)), "127.0.0.1:"+strconv.Itoa(freePort(t)) // the pages reconnect to the same origin
	nodes := make([]*embeddedNode, 3)
	for i := range nodes {
		nodes[i] = tp.start(t, i)
	}
	for _, n := range nodes {
		n.ready()
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range nodes {
				t.Logf("%s:\n%s", n.name, n.logs.String())
			}
		}
	})

	alice, bob := browsertest.Page(t), browsertest.Page(t)
	enter := func(page context.Context, web, nick string) {
		t.Helper()
		browsertest.Run(t, page, nick+" joins #dev",
			chromedp.Navigate("http://"+web+"/"),
			chromedp.WaitReady("body[data-ready]"),
			chromedp.SendKeys("#nick", nick),
			chromedp.Clear("#room"),
			chromedp.SendKeys("#room", "dev"),
			chromedp.Click("#join"),
		)
		browsertest.WaitText(t, page, "#status", "Connected to #dev as "+nick)
	}
	say := func(from, to context.Context, text string) {
		t.Helper()
		browsertest.Run(t, from, "say "+text, chromedp.SendKeys("#text", text), chromedp.Click("#send"))
		browsertest.WaitTextWithin(t, to, slowTimeout, "#messages", text)
	}
	enter(alice, tp.web[0], "alice") // the room starts on n1
	enter(bob, tp.web[1], "bob")
	browsertest.WaitText(t, bob, "#members", "alice")
	say(alice, bob, "hello from n1")

	nodes[0].kill()
	browsertest.WaitTextWithin(t, alice, slowTimeout, "#status", "Reconnecting")
	nodes[0] = tp.start(t, 0) // the same ports and store
	nodes[0].ready()

	for _, p := range []struct {
		page context.Context
		nick string
	}{{alice, "alice"}, {bob, "bob"}} {
		browsertest.WaitTextWithin(t, p.page, slowTimeout, "#messages", "Reconnected to #dev.")
		browsertest.WaitTextWithin(t, p.page, slowTimeout, "#status", "Connected to #dev as "+p.nick)
	}
	browsertest.WaitTextWithin(t, alice, slowTimeout, "#members", "bob")
	browsertest.WaitTextWithin(t, bob, slowTimeout, "#members", "alice")
	say(bob, alice, "back from n2")
	say(alice, bob, "back from n1")
}
