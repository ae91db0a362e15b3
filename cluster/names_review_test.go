package cluster_test

import (
	"errors"
	"strings"
	"testing"

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
	junk := strings.Repeat("not a pid\nlevel=ERROR msg=forged\n", 20000)
	putName(t, openBucket(t, s), "hall", junk)
	p := proctest.Spawn(t, a.node, host, nil)
	err := register(t, a, "hall", p)
	if !errors.Is(err, process.ErrNameTaken) {
		t.Fatalf("register over a value that is not a PID: %v, want ErrNameTaken", err)
	}
	if msg := err.Error(); len(msg) > 300 || strings.Contains(msg, "\n") {
		t.Fatalf("the error carries the value written under the name (%d bytes): %.200q", len(msg), msg)
	}
}
