// Package cluster joins wsrelay nodes into one PID space over NATS: its
// Transport implements process/transport's Transport, so a message,
// monitor, link, exit, cancel or terminate addressed to a PID of another node travels
// over NATS, and nodes learn of each other, and of each other's loss,
// through heartbeats.
//
// Each node subscribes to <cluster>.node.<name>; the signals it sends one
// node are queued in order and published in batches by one goroutine per
// destination node. Signals from one sender to one receiver arrive in the
// order sent; delivery is at most once. See docs/cluster.md.
//
// A single node needs none of this: the cluster package is wired only when
// a cluster is configured, and package process does not import it.
package cluster
