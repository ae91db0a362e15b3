// Package natstest runs a NATS server inside a test process, for tests of
// nodes in a cluster.
package natstest

import (
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
