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
// text and line breaks). No node writes such a value, so it holds
// nothing: registering the name clears it and succeeds, rather than
// leaving the name blocked for good (a cluster service whose name was
// blocked so would start and stop an instance every 100 ms).
func TestClusterNameHeldByNoPID(t *testing.T) {
	t.Parallel()
	s := startJetStream(t)
	a := startNamedNode(t, s, "a")
	junk := strings.Repeat("not a pid\nlevel=ERROR msg=forged\n", 20000)
	putName(t, openBucket(t, s), "hall", junk)
	p := proctest.Spawn(t, a.node, host, nil)
	if err := register(t, a, "hall", p); err != nil {
		t.Fatalf("register over a value that is not a PID: %v", err)
	}
	if got, ok := a.names.LookupName("hall"); !ok || got != p.PID {
		t.Fatalf("hall resolves to %v %v, want %v", got, ok, p.PID)
	}
	// A name another process holds stays taken, and the error names it.
	q := proctest.Spawn(t, a.node, host, nil)
	err := register(t, a, "hall", q)
	if !errors.Is(err, process.ErrNameTaken) || !strings.Contains(err.Error(), p.PID.String()) {
		t.Fatalf("register over a live holder: %v, want ErrNameTaken naming %v", err, p.PID)
	}
}
