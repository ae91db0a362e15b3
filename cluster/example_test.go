package cluster_test

import (
	"context"
	"fmt"
	"log"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/process"
)

// joinCluster is how a program makes one node of a cluster: connect to
// NATS, make the transport, make the node with it, start the transport.
func joinCluster(url, name string) (*process.Node, func(), error) {
	nc, err := nats.Connect(url) // user/password, TLS, credentials: nats.Option values
	if err != nil {
		return nil, nil, err
	}
	tr, err := cluster.New(nc, &cluster.Options{Cluster: "chat"})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	node, err := process.NewNode(&process.Options{Name: name, Transport: tr})
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	if err := tr.Start(node); err != nil {
		nc.Close()
		return nil, nil, err
	}
	leave := func() {
		_ = node.Shutdown(context.Background())
		_ = tr.Close()
		nc.Close()
	}
	return node, leave, nil
}

func ExampleNew() {
	// An in-process NATS server stands in for the user's.
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		log.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(timeout) {
		log.Fatal("NATS not ready")
	}

	node, leave, err := joinCluster(ns.ClientURL(), "n1")
	if err != nil {
		log.Fatal(err)
	}
	defer leave()
	fmt.Println(node.Name())
	// Output: n1
}
