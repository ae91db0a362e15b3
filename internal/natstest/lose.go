package natstest

import (
	"context"
	"net"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The ways a test loses a JetStream key-value bucket under live clients.

// RestartEmpty shuts s down and starts a server with JetStream on the same
// port, with a new and empty store: every bucket is gone.
func RestartEmpty(t testing.TB, s *server.Server) *server.Server {
	t.Helper()
	port := s.Addr().(*net.TCPAddr).Port
	s.Shutdown()
	s.WaitForShutdown()
	return StartOnPort(t, port, true)
}

// DeleteBucket deletes the key-value bucket on s.
func DeleteBucket(t testing.TB, s *server.Server, bucket string) {
	t.Helper()
	withJetStream(t, s, func(ctx context.Context, js jetstream.JetStream) error {
		return js.DeleteKeyValue(ctx, bucket)
	})
}

// PurgeBucket purges the stream of the key-value bucket on s: its
// entries are gone, the stream stays.
func PurgeBucket(t testing.TB, s *server.Server, bucket string) {
	t.Helper()
	withJetStream(t, s, func(ctx context.Context, js jetstream.JetStream) error {
		st, err := js.Stream(ctx, "KV_"+bucket)
		if err != nil {
			return err
		}
		return st.Purge(ctx)
	})
}

func withJetStream(t testing.TB, s *server.Server, do func(context.Context, jetstream.JetStream) error) {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := do(ctx, js); err != nil {
		t.Fatal(err)
	}
}
