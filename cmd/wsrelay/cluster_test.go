package main

import (
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
)

var embeddedNATS = regexp.MustCompile(`"embedded NATS listening" url=(\S+)`)

// TestRunTwoNodes: one run embeds NATS, a second joins it with --cluster
// (its name from WSRELAY_NODE); each sees the other up, and both stop
// cleanly.
func TestRunTwoNodes(t *testing.T) {
	dir := writeApp(t, smallApp)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs1, logs2 := &syncWriter{}, &syncWriter{}
	done := make(chan int, 2)
	go func() {
		done <- run(ctx, []string{"run", "--node", "n1", "--nats-listen", "127.0.0.1:0", dir}, io.Discard, logs1)
	}()
	var url string
	poll.Until(t, timeout, "the embedded NATS line in the log", func() bool {
		if m := embeddedNATS.FindStringSubmatch(logs1.String()); m != nil {
			url = m[1]
		}
		return url != ""
	})
	t.Setenv("WSRELAY_NODE", "n2")
	go func() {
		done <- run(ctx, []string{"run", "--cluster", url, dir}, io.Discard, logs2)
	}()
	poll.Until(t, timeout, "each node sees the other, with cluster names", func() bool {
		l1, l2 := logs1.String(), logs2.String()
		return strings.Contains(l1, `"cluster: node up" node=n2`) && strings.Contains(l2, `"cluster: node up" node=n1`) &&
			strings.Contains(l1, "cluster-wide names ready") && strings.Contains(l2, "cluster-wide names ready")
	})
	cancel()
	for range 2 {
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("exit %d:\n%s\n%s", code, logs1, logs2)
			}
		case <-time.After(timeout):
			t.Fatal("run did not return after its context ended")
		}
	}
}

func TestRunClusterNeedsANodeName(t *testing.T) {
	dir := writeApp(t, smallApp)
	for _, args := range [][]string{
		{"run", "--cluster", "nats://127.0.0.1:1", dir},
		{"run", "--nats-store", t.TempDir(), dir},
		{"run", "--node", "x", "--cluster", "nats://127.0.0.1:1", "--nats-listen", "127.0.0.1:0", dir},
	} {
		code, _, errOut := runCmd(args...)
		if code != 2 || !strings.Contains(errOut, "wsrelay run:") {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
}
