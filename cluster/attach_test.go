package cluster_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/process"
)

// A transport carries for the node that was made with it (NewNode
// attaches it): Start with another node is refused, since what the
// transport receives would go to a node that does not send through it.
func TestStartNeedsTheNodeMadeWithIt(t *testing.T) {
	t.Parallel()
	s := startNATS(t)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tr, err := cluster.New(nc, fastOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	alone, err := process.NewNode(&process.Options{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Start(alone); err == nil || !strings.Contains(err.Error(), "not made with this transport") {
		t.Fatalf("Start with a node made without the transport: %v", err)
	}
	other, err := process.NewNode(&process.Options{Name: "b", Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Shutdown(context.Background())
	if err := tr.Start(alone); err == nil { // a, not b
		t.Fatal("Start with a node other than the one the transport was attached to was accepted")
	}
	if err := tr.Start(other); err != nil {
		t.Fatalf("Start with the node made with the transport: %v", err)
	}
}
