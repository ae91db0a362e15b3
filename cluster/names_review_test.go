package cluster_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/process"
)

// TestClusterNameHeldByNoPID: a NATS participant that is no node of the
// cluster writes a value that is not a PID under a name (a megabyte of
// text and line breaks). Registering that name is refused as taken, and
// the error says so in a few words: it does not carry the value into the
// caller's error and the log.
func TestClusterNameHeldByNoPID(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	a := startNamedNode(t, s, "a")
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	kv, err := js.KeyValue(ctx, cluster.DefaultCluster+"_names")
	if err != nil {
		t.Fatal(err)
	}
	junk := strings.Repeat("not a pid\nlevel=ERROR msg=forged\n", 20000)
	if _, err := kv.Create(ctx, "n."+base64.RawURLEncoding.EncodeToString([]byte("hall")), []byte(junk)); err != nil {
		t.Fatal(err)
	}
	p := proctest.Spawn(t, a.node, host, nil)
	err = register(t, a, "hall", p)
	if !errors.Is(err, process.ErrNameTaken) {
		t.Fatalf("register over a value that is not a PID: %v, want ErrNameTaken", err)
	}
	if msg := err.Error(); len(msg) > 300 || strings.Contains(msg, "\n") {
		t.Fatalf("the error carries the value written under the name (%d bytes): %.200q", len(msg), msg)
	}
}
