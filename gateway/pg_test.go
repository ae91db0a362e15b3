package gateway_test

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
)

// TestGroupOfRelayClients: relay clients joined to a group by their
// target get its broadcasts as frames, and a client that closes is one
// member.left for the room.
func TestGroupOfRelayClients(t *testing.T) {
	ta := startAppIn(t, "testdata/pgapp")
	url := "ws://" + ta.addr + "/ws/connect"
	a, _ := dialWelcomed(t, url)
	b, bPID := dialWelcomed(t, url)
	if err := a.WriteText("hi all"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsclient.Client{a, b} {
		if got, err := c.ReadText(); got != "hi all" || err != nil {
			t.Fatalf("broadcast: %q %v", got, err)
		}
	}
	b.WriteClose(1000, "bye")
	if got, err := a.ReadText(); got != "left "+bPID || err != nil {
		t.Fatalf("after b closed: %q %v, want left %s", got, err, bPID)
	}
	if err := a.WriteText("still here"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.ReadText(); got != "still here" || err != nil {
		t.Fatalf("broadcast after b left: %q %v", got, err)
	}
}

// TestGroupOfRelayClientsTwoNodes: the same app on two nodes of a
// cluster; each node's hub joins its own clients to the group, and a
// broadcast from one node reaches the clients of both as frames.
func TestGroupOfRelayClientsTwoNodes(t *testing.T) {
	s := natstest.Start(t, false)
	start := func(name string) (*gateway.App, *cluster.Transport) {
		m := clustertest.Join(t, s.ClientURL(), name, nil)
		app, _ := apptest.StartWith(t, "testdata/pgapp", gateway.Options{NodeName: name, Transport: m.Transport},
			func(app *gateway.App) { m.Start(t, app.Node(), false) })
		return app, m.Transport
	}
	appA, trA := start("a")
	appB, trB := start("b")
	poll.Until(t, timeout, "the two nodes see each other", func() bool { return trA.IsUp("b") && trB.IsUp("a") })
	url := func(app *gateway.App) string { return "ws://" + apptest.Addr(t, app, "app:gateway") + "/ws/connect" }
	a, _ := dialWelcomed(t, url(appA))
	b, bPID := dialWelcomed(t, url(appB))
	scopeA, ok := appA.Groups().Scope("app:pg")
	if !ok {
		t.Fatal("no scope app:pg")
	}
	poll.Until(t, timeout, "node a knows both clients", func() bool { return len(scopeA.Members("room")) == 2 })
	metrics := func(app *gateway.App) string { return "http://" + apptest.Addr(t, app, "app:gateway") + "/metrics" }
	sentA := clusterCounter(t, metrics(appA), `wsrelay_cluster_messages_total{direction="out"}`)
	gotB := clusterCounter(t, metrics(appB), `wsrelay_cluster_messages_total{direction="in"}`)
	if err := a.WriteText("ping"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsclient.Client{a, b} {
		if got, err := c.ReadText(); got != "ping" || err != nil {
			t.Fatalf("broadcast from node a: %q %v", got, err)
		}
	}
	// The broadcast crossed the cluster, and the metrics say so.
	if n := clusterCounter(t, metrics(appA), `wsrelay_cluster_messages_total{direction="out"}`); n <= sentA {
		t.Errorf("node a's cluster messages out: %d after the broadcast, %d before", n, sentA)
	}
	if n := clusterCounter(t, metrics(appB), `wsrelay_cluster_messages_total{direction="in"}`); n <= gotB {
		t.Errorf("node b's cluster messages in: %d after the broadcast, %d before", n, gotB)
	}
	b.WriteClose(1000, "bye")
	if got, err := a.ReadText(); got != "left "+bPID || err != nil {
		t.Fatalf("after b closed: %q %v, want left %s", got, err, bPID)
	}
}

// clusterCounter reads one counter from a node's /metrics.
func clusterCounter(t *testing.T, url, name string) int {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, _ := io.ReadAll(r.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s: %q", name, line)
			}
			return n
		}
	}
	t.Fatalf("%s lacks %s", url, name)
	return 0
}

// dialWelcomed connects a client to the pg test app at url and reads its
// welcome, which names the client's PID.
func dialWelcomed(t *testing.T, url string) (*wsclient.Client, string) {
	t.Helper()
	c, resp, err := wsclient.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial: %v %+v", err, resp)
	}
	t.Cleanup(func() { c.Close() })
	w, err := c.ReadText()
	if err != nil || !strings.HasPrefix(w, "welcome ") {
		t.Fatalf("welcome: %q %v", w, err)
	}
	return c, strings.TrimPrefix(w, "welcome ")
}
