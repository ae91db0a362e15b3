package examples_test

import (
	"slices"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
)

// startChatNode serves the chat as the node name of the cluster on s,
// with cluster-wide names, until the test ends; it returns the address of
// the chat's service and the node's transport.
func startChatNode(t testing.TB, s *server.Server, name string) (string, *cluster.Transport) {
	t.Helper()
	m := clustertest.Join(t, s.ClientURL(), name, nil) // closes after the app's shutdown (cleanups run last first)
	app, _ := apptest.StartWith(t, "chat", gateway.Options{NodeName: name, Transport: m.Transport, ClusterNames: m.Names},
		func(app *gateway.App) { m.Start(t, app.Node(), true) })
	return apptest.Addr(t, app, "chat:gateway"), m.Transport
}

// startChatCluster starts two chat nodes, a and b, on one NATS and waits
// until each sees the other.
func startChatCluster(t testing.TB) (addrA, addrB string) {
	t.Helper()
	s := natstest.StartJetStream(t)
	addrA, trA := startChatNode(t, s, "a")
	addrB, trB := startChatNode(t, s, "b")
	poll.Until(t, timeout, "the two nodes see each other", func() bool {
		return slices.Contains(trA.Peers(), "b") && slices.Contains(trB.Peers(), "a")
	})
	return addrA, addrB
}

// TestChatTwoNodes: alice on node a and bob on node b meet in one room:
// joins, messages both ways, presence and leaving all cross the nodes;
// two members who open a new room on both nodes at once land in the same
// room.
func TestChatTwoNodes(t *testing.T) {
	t.Parallel()
	addrA, addrB := startChatCluster(t)

	alice := join(t, addrA, "alice", "lobby")
	alice.until("welcome")
	bob := join(t, addrB, "bob", "lobby")
	if w := bob.until("welcome"); w.Room != "lobby" || !slices.Equal(w.members(), []string{"alice", "bob"}) {
		t.Fatalf("bob, on node b, was welcomed with %+v; want the lobby with alice, on node a", w)
	}
	if j := alice.until("joined"); j.Nick != "bob" || !slices.Equal(j.members(), []string{"alice", "bob"}) {
		t.Errorf("alice saw %+v", j)
	}

	alice.send(map[string]string{"type": "say", "text": "hello from a"})
	if m := bob.until("message"); m.Nick != "alice" || m.Text != "hello from a" {
		t.Errorf("bob got %+v", m)
	}
	bob.send(map[string]string{"type": "say", "text": "hello from b"})
	m := alice.until("message") // her own first: the room sends every member every message
	if m.Nick == "alice" {
		m = alice.until("message")
	}
	if m.Nick != "bob" || m.Text != "hello from b" {
		t.Errorf("alice got %+v", m)
	}

	// Heartbeats (every 5 s) refresh the member list on both nodes.
	for _, c := range []*chatter{alice, bob} {
		if p := c.until("presence"); !slices.Equal(p.members(), []string{"alice", "bob"}) {
			t.Errorf("presence %+v", p)
		}
	}

	// A new room opened from both nodes at once is one room.
	carol := join(t, addrA, "carol", "games")
	dave := join(t, addrB, "dave", "games")
	wc, wd := carol.until("welcome"), dave.until("welcome")
	if n := len(wc.members()) + len(wd.members()); n != 3 {
		t.Errorf("carol was welcomed with %v and dave with %v: not one room", wc.members(), wd.members())
	}

	bob.c.WriteClose(1000, "bye")
	if l := alice.until("left"); l.Nick != "bob" || l.Reason != "client_closed" || !slices.Equal(l.members(), []string{"alice"}) {
		t.Errorf("alice saw %+v", l)
	}
}
