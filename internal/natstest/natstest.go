// Package natstest runs a NATS server inside a test process, for tests of
// nodes in a cluster.
package natstest

import (
	"net"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds the wait for a started server to take connections.
const readyTimeout = 10 * time.Second

// Start runs a NATS server on a random loopback port until the test ends;
// with jetstream, JetStream is on and stores in a temporary directory.
func Start(t testing.TB, jetstream bool) *server.Server {
	t.Helper()
	return StartOnPort(t, -1, jetstream)
}

// StartJetStream is Start with JetStream.
func StartJetStream(t testing.TB) *server.Server {
	t.Helper()
	return Start(t, true)
}

// StartOnPort is Start on the given loopback port (-1: a random one), to
// bring a stopped server back where its clients reconnect.
func StartOnPort(t testing.TB, port int, jetstream bool) *server.Server {
	t.Helper()
	opts := &server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true}
	if jetstream {
		opts.JetStream = true
		opts.StoreDir = t.TempDir()
	}
	return StartWith(t, opts)
}

// StartMaxPayload is Start (no JetStream) with a max payload of n bytes
// instead of the server's default 1 MiB.
func StartMaxPayload(t testing.TB, n int32) *server.Server {
	t.Helper()
	return StartWith(t, &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true, MaxPayload: n})
}

// StartWith runs a NATS server with opts until the test ends.
func StartWith(t testing.TB, opts *server.Options) *server.Server {
	t.Helper()
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(readyTimeout) {
		s.Shutdown()
		t.Fatal("NATS server not ready")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Cluster is a NATS cluster of servers in the test process, routed to
// each other, with JetStream clustered: what `wsrelay run --nats-routes`
// makes of its nodes' embedded servers.
type Cluster struct {
	t       testing.TB
	routes  []*url.URL
	ports   []int // route ports
	stores  []string
	Servers []*server.Server // nil while stopped
}

// StartCluster runs n routed servers on loopback until the test ends and
// waits until JetStream answers on each.
func StartCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Servers: make([]*server.Server, n)}
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		c.ports = append(c.ports, port)
		c.routes = append(c.routes, &url.URL{Scheme: "nats", Host: "127.0.0.1:" + strconv.Itoa(port)})
		c.stores = append(c.stores, t.TempDir())
	}
	for i := range n {
		c.Start(i)
	}
	t.Cleanup(func() {
		for i := range c.Servers {
			c.Stop(i)
		}
	})
	return c
}

// Start starts server i (again), on its route port and its store.
func (c *Cluster) Start(i int) {
	c.t.Helper()
	opts := &server.Options{
		ServerName: "s" + strconv.Itoa(i), Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		JetStream: true, StoreDir: c.stores[i],
		Cluster: server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: c.ports[i]},
		Routes:  c.routes,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		c.t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(readyTimeout) {
		s.Shutdown()
		c.t.Fatal("NATS server not ready")
	}
	c.Servers[i] = s
}

// Stop shuts server i down (its clients lose it at once).
func (c *Cluster) Stop(i int) {
	if s := c.Servers[i]; s != nil {
		s.Shutdown()
		s.WaitForShutdown()
		c.Servers[i] = nil
	}
}

// Current reports whether server i is up and holds up-to-date copies of
// what JetStream placed on it: the cluster can then lose another server.
func (c *Cluster) Current(i int) bool {
	s := c.Servers[i]
	if s == nil {
		return false
	}
	h := s.Healthz(nil)
	return h != nil && h.Status == "ok"
}
