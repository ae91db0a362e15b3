package examples_test

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestChatTwoNodesInBrowser is the README's chat on two nodes: a page on
// each node's port, one room; each page lists the other's member and
// shows the other's message.
func TestChatTwoNodesInBrowser(t *testing.T) {
	alice, bob := page(t), page(t)
	addrA, addrB := startChatCluster(t)

	joinChat(t, alice, "http://"+addrA, "alice")
	joinChat(t, bob, "http://"+addrB, "bob")
	waitText(t, alice, "#members", "bob")
	waitText(t, bob, "#members", "alice")

	run(t, alice, "alice, on node a, says hello", chromedp.SendKeys("#text", "hello from node a"), chromedp.Click("#send"))
	waitText(t, bob, "#messages", "hello from node a")
	run(t, bob, "bob, on node b, answers", chromedp.SendKeys("#text", "hi from node b"), chromedp.Click("#send"))
	waitText(t, alice, "#messages", "hi from node b")
}
