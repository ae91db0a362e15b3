package cluster_test

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
)

// fakeHeartbeat is a heartbeat of a node named name (see membership.go).
func fakeHeartbeat(name string, inc uint64) []byte {
	b := []byte{2}
	b = binary.LittleEndian.AppendUint64(b, inc)
	b = append(b, 0)
	b = binary.AppendUvarint(b, uint64(len(name)))
	return append(b, name...)
}

// TestPeerTableForgetsDownNodes: nodes whose names change at each start
// (a thousand and more over a cluster's life) must not fill the peer table
// for good: once they are down, a new node is still admitted.
func TestPeerTableForgetsDownNodes(t *testing.T) {
	s := startNATS(t)
	a := startNode(t, s, "a", nil)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for i := range 1100 { // more than the table holds
		if err := nc.Publish("wsrelay.hb", fakeHeartbeat(fmt.Sprintf("gone-%d", i), 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	// They fall silent and are down within the timeout (1s); a node that
	// starts now must be admitted all the same.
	b := startNode(t, s, "b", nil)
	waitPeers(t, a, b)
}
