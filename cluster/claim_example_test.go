package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// ExampleNames_Claim elects one process of the cluster as the leader: the
// first claim wins, the others wait on a change of the claim and try
// again once it is released.
func ExampleNames_Claim() {
	store, err := os.MkdirTemp("", "example-js-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(store)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: store})
	if err != nil {
		log.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(timeout) {
		log.Fatal("NATS not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		log.Fatal(err)
	}
	defer nc.Close()
	tr, err := cluster.New(nc, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer tr.Close()
	names := cluster.NewNames(tr)
	node, err := process.NewNode(&process.Options{Name: "n1", Transport: tr, ClusterNames: names})
	if err != nil {
		log.Fatal(err)
	}
	defer node.Shutdown(context.Background())
	if _, err := node.AddHost("app", nil); err != nil {
		log.Fatal(err)
	}
	if err := tr.Start(node); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := names.Start(ctx); err != nil {
		log.Fatal(err)
	}
	defer names.Close()

	idle := func(p *process.Process) (value.Value, error) { // until cancelled
		for {
			if ev, ok := p.ReceiveEvent(p.Context()); !ok || ev.Kind == process.EventCancel {
				return value.Nil(), nil
			}
		}
	}
	first, _ := node.Spawn("app", idle, process.SpawnOptions{})
	second, _ := node.Spawn("app", idle, process.SpawnOptions{})

	const leader = "{leader}" // a claim starts with '{'
	fmt.Println("first claims it:", names.Claim(ctx, leader, first) == nil)
	changed := names.Changed(leader) // before trying, so no release is missed
	err = names.Claim(ctx, leader, second)
	fmt.Println("second is refused:", errors.Is(err, process.ErrNameTaken))
	names.Release(ctx, leader, first)
	<-changed
	fmt.Println("second claims it once released:", names.Claim(ctx, leader, second) == nil)
	// Output:
	// first claims it: true
	// second is refused: true
	// second claims it once released: true
}
