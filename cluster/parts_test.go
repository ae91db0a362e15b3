package cluster_test

import (
	"bytes"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// smallPayload is the max payload of the NATS servers of these tests:
// small, so that big messages are light for a loaded machine.
const smallPayload = 64 << 10

// steadyOptions are heartbeat settings for tests that move megabytes
// under -race on a loaded machine: a node taken for lost meanwhile
// would drop what waits for it (at most once), which is not what these
// tests are about.
func steadyOptions() *cluster.Options {
	return &cluster.Options{HeartbeatInterval: 100 * time.Millisecond, HeartbeatTimeout: 5 * time.Second}
}

// next returns pr's next message, which must have the topic; a mismatch
// names the topics only (payloads here are megabytes).
func next(t *testing.T, pr *proctest.Probe, topic string) process.Message {
	t.Helper()
	m := pr.Recv()
	if m.Topic != topic {
		t.Fatalf("%v got a message on %q, want %q", pr.PID, m.Topic, topic)
	}
	return m
}

// pattern returns n bytes that differ with seed and position, so that a
// piece out of place or missing shows.
func pattern(seed, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*131 + i*7 + i>>9)
	}
	return b
}

// TestBigMessagesCrossInParts: messages from a process on node a to one on
// node b, small ones between ones larger than the NATS server's max
// payload (around it, and up to 16 times it), all arrive whole and in
// order, and so does an EXIT with a big reason; nothing was dropped on
// the way.
func TestBigMessagesCrossInParts(t *testing.T) {
	t.Parallel()
	s := natstest.StartMaxPayload(t, smallPayload)
	a, b := startNode(t, s, "a", steadyOptions()), startNode(t, s, "b", steadyOptions())
	waitPeers(t, a, b)
	recv := proctest.Spawn(t, b.node, host, nil)
	sender := proctest.Spawn(t, a.node, host, nil)
	sizes := []int{10, smallPayload - 200, 3, smallPayload - 60, smallPayload, smallPayload + 1, 0, 200 << 10, 1, 1 << 20, 5, 16 * smallPayload, 7}
	for i, n := range sizes {
		sender.Send(recv.PID.String(), "m"+strconv.Itoa(i), value.BytesString(string(pattern(i, n))))
	}
	for i, n := range sizes {
		m := next(t, recv, "m"+strconv.Itoa(i))
		got, _ := m.Payload.Bytes()
		if !bytes.Equal(got, pattern(i, n)) {
			t.Fatalf("message %d: %d bytes, not the %d sent", i, len(got), n)
		}
	}

	// An EXIT whose reason is that big arrives whole too.
	want := pattern(99, 300<<10)
	ends := exitWith(t, a, value.BytesString(string(want)))
	recv.Monitor(ends)
	recv.Send(ends.String(), "end", value.Nil())
	ev := recv.Event()
	if got, _ := ev.Result.Value.Bytes(); ev.Kind != process.EventExit || !bytes.Equal(got, want) {
		t.Fatalf("EXIT %v with a %d-byte reason, want the %d bytes the process ended with", ev.Kind, len(got), len(want))
	}
	if st := b.tr.Stats(); st.PartialsDropped != 0 || st.BadIn != 0 || st.Partials != 0 || st.PartialBytes != 0 {
		t.Fatalf("receiver stats %+v: want nothing dropped or left over", st)
	}
	if st := a.tr.Stats(); st.BatchesOut <= uint64(len(sizes)) || st.Dropped != 0 || st.PublishErrors != 0 {
		t.Fatalf("sender stats %+v: want more NATS messages than signals (parts), nothing dropped", st)
	}
}

// exitWith spawns a process on n that ends with v once it gets a
// message: a watcher that monitors it, then sends it one, is in place
// before it ends (order per pair).
func exitWith(t *testing.T, n *testNode, v value.Value) pid.PID {
	t.Helper()
	id, err := n.node.Spawn(host, func(p *process.Process) (value.Value, error) {
		p.Receive(p.Context())
		return v, nil
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRelayBigFrameAcrossNodes: a client of node a whose target is on node
// b sends a frame of max.message.size (16 times the NATS server's max
// payload) between two small ones: the target gets the three, whole and
// in order.
func TestRelayBigFrameAcrossNodes(t *testing.T) {
	t.Parallel()
	s := natstest.StartMaxPayload(t, smallPayload)
	a, b := startNode(t, s, "a", steadyOptions()), startNode(t, s, "b", steadyOptions())
	waitPeers(t, a, b)
	target := proctest.Spawn(t, b.node, host, nil)
	c := dial(t, relayOn(t, a, target.PID))
	target.Next("ws.join")
	big := pattern(1, wsrelay.DefaultMaxMessageSize)
	if err := c.WriteText("before"); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteBinary(big); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteText("after"); err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]byte{[]byte("before"), big, []byte("after")} {
		d, _ := next(t, target, "ws.message").Payload.Get("data")
		got, ok := d.Bytes()
		if !ok { // a text frame
			s, _ := d.Text()
			got = []byte(s)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("the target got a %d-byte frame, want the %d-byte one sent next", len(got), len(want))
		}
	}
}

// TestMaxPayloadShrinksOnReconnect: two nodes on a NATS server with the
// default max payload (1 MiB) move, when it stops, to one with 64 KiB; a
// message of 512 KiB then still crosses (the max payload is the
// connection's now, not the one the transport started with).
func TestMaxPayloadShrinksOnReconnect(t *testing.T) {
	t.Parallel()
	big := startNATS(t)
	small := natstest.StartMaxPayload(t, smallPayload)
	urls := big.ClientURL() + "," + small.ClientURL()
	a, b := joinInOrder(t, urls, "a"), joinInOrder(t, urls, "b")
	waitPeers(t, a, b)
	if got := a.nc.MaxPayload(); got != 1<<20 {
		t.Fatalf("node a starts with a max payload of %d, want the first server's 1 MiB", got)
	}
	recv := proctest.Spawn(t, b.node, host, nil)
	sender := proctest.Spawn(t, a.node, host, nil)
	big.Shutdown()
	poll.Until(t, timeout, "both nodes on the second server", func() bool {
		return a.nc.ConnectedUrl() == small.ClientURL() && b.nc.ConnectedUrl() == small.ClientURL() &&
			a.nc.MaxPayload() == smallPayload && b.nc.MaxPayload() == smallPayload
	})
	waitPeers(t, a, b)
	want := pattern(3, 512<<10)
	sender.Send(recv.PID.String(), "big", value.BytesString(string(want)))
	got, _ := next(t, recv, "big").Payload.Bytes()
	if !bytes.Equal(got, want) {
		t.Fatalf("%d bytes arrived, not the %d sent", len(got), len(want))
	}
}

// joinInOrder joins node name through the NATS servers at urls, tried in
// the order given (clustertest.Join lets the client shuffle them).
func joinInOrder(t *testing.T, urls, name string) *testNode {
	t.Helper()
	nc, err := nats.Connect(urls, nats.DontRandomize(), nats.MaxReconnects(-1), nats.ReconnectWait(20*time.Millisecond), nats.IgnoreDiscoveredServers())
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cluster.New(nc, steadyOptions())
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	n, err := process.NewNode(&process.Options{Name: name, Transport: tr})
	if err == nil {
		_, err = n.AddHost(host, nil)
	}
	if err == nil {
		err = tr.Start(n)
	}
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	tn := &testNode{name: name, node: n, tr: tr, nc: nc}
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

// TestHostilePartsAreBounded: a peer that forges parts cannot make node b
// hold more than MaxReassembly bytes, or more runs than the bound, for
// batches that never complete; a part with a total past MaxSignal is a
// bad batch; a part out of place drops its run. Every drop is counted.
// Once the forged runs time out, a real big message crosses again.
func TestHostilePartsAreBounded(t *testing.T) {
	t.Parallel()
	s := natstest.StartMaxPayload(t, smallPayload)
	const bound = 256 << 10
	bOpts := fastOptions()
	bOpts.MaxReassembly = bound
	a, b := startNode(t, s, "a", nil), startNode(t, s, "b", bOpts)
	waitPeers(t, a, b)
	recv := proctest.Spawn(t, b.node, host, nil)
	sender := proctest.Spawn(t, a.node, host, nil)
	forge := func(batch []byte) {
		t.Helper()
		if err := a.nc.Publish(b.tr.NodeSubject("b"), batch); err != nil {
			t.Fatal(err)
		}
	}
	// marker waits until b has applied what a's connection sent before.
	marker := func() {
		t.Helper()
		sender.Send(recv.PID.String(), "marker", value.Nil())
		recv.Next("marker")
	}

	piece := pattern(0, 1<<10)
	forge(cluster.EncodePart("x", 1, cluster.MaxSignal+1, 0, piece)) // a total past MaxSignal
	forge(cluster.EncodePart("o", 1, 5000, 0, piece))
	forge(cluster.EncodePart("o", 1, 5000, 512, piece)) // overlaps the first
	forge(cluster.EncodePart("o", 1, 5000, 1536, piece))
	const flood = 1100 // forged nodes that each begin a 1 MiB batch and never finish it
	for i := range flood {
		forge(cluster.EncodePart("f"+strconv.Itoa(i), 1, 1<<20, 0, piece))
	}
	marker()
	st := b.tr.Stats()
	if st.BadIn != 1 {
		t.Errorf("BadIn = %d, want 1 (the part past MaxSignal)", st.BadIn)
	}
	if st.PartialBytes > bound || st.Partials > 1024 {
		t.Errorf("%d runs hold %d bytes, want at most 1024 runs and %d bytes", st.Partials, st.PartialBytes, bound)
	}
	// The overlap, then every forged batch past the bytes bound (256 of
	// 1 KiB fit) and past the runs bound.
	if want := uint64(1 + flood - bound/len(piece)); st.PartialsDropped != want {
		t.Errorf("PartialsDropped = %d, want %d", st.PartialsDropped, want)
	}
	poll.Until(t, timeout, "the forged runs to time out", func() bool {
		st := b.tr.Stats()
		return st.Partials == 0 && st.PartialBytes == 0
	})
	want := pattern(5, 200<<10)
	sender.Send(recv.PID.String(), "real", value.BytesString(string(want)))
	got, _ := next(t, recv, "real").Payload.Bytes()
	if !bytes.Equal(got, want) {
		t.Fatalf("%d bytes arrived, not the %d sent", len(got), len(want))
	}
}

// TestNodeGoneMidBatch: node a goes away after the first part of a big
// batch reached node b, lost (its connection closes) or leaving (its
// goodbye comes next in its stream): by the time b's processes hear of
// it, b holds nothing of that batch, and counted the drop.
func TestNodeGoneMidBatch(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"lost", "leaves"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			s := startNATS(t)
			a, b := startNode(t, s, "a", nil), startNode(t, s, "b", nil)
			waitPeers(t, a, b)
			recv := proctest.Spawn(t, b.node, host, nil)
			sender := proctest.Spawn(t, a.node, host, nil)
			recv.Monitor(sender.PID)
			if err := a.nc.Publish(b.tr.NodeSubject("b"), cluster.EncodePart("a", a.tr.Incarnation(), 1<<20, 0, pattern(0, 1<<10))); err != nil {
				t.Fatal(err)
			}
			sender.Send(recv.PID.String(), "marker", value.Nil())
			recv.Next("marker")
			// The marker, a signal, ended that run; a new one is in
			// progress once this part is applied.
			if err := a.nc.Publish(b.tr.NodeSubject("b"), cluster.EncodePart("a", a.tr.Incarnation(), 1<<20, 0, pattern(0, 1<<10))); err != nil {
				t.Fatal(err)
			}
			poll.Until(t, timeout, "node b to hold the first part", func() bool { return b.tr.Stats().Partials == 1 })
			if how == "lost" {
				a.nc.Close()
			} else {
				_ = a.tr.Close()
			}
			if ev := recv.Event(); ev.Kind != process.EventExit || !errors.Is(ev.Result.Err, process.ErrNoConnection) {
				t.Fatalf("event %+v, want EXIT noconnection", ev)
			}
			if st := b.tr.Stats(); st.Partials != 0 || st.PartialBytes != 0 || st.PartialsDropped != 2 {
				t.Fatalf("node a gone: %d runs holding %d bytes, %d dropped; want none left and 2 dropped", st.Partials, st.PartialBytes, st.PartialsDropped)
			}
		})
	}
}
