package gateway_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/process"
)

// startEdgeApp serves a copy of testdata/edgeapp; prepare may add files
// (symlinks, dot-directories git would not keep) to the copy first.
func startEdgeApp(t *testing.T, prepare func(dir string)) *testApp {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("testdata/edgeapp")); err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(dir)
	}
	return startAppIn(t, dir)
}

// next returns the next probe message of a topic, skipping others.
func (ta *testApp) next(t *testing.T, topic string) process.Message {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-ta.probe:
			if m.Topic == topic {
				return m
			}
		case <-deadline:
			t.Fatalf("no %s for the probe; log:\n%s", topic, ta.logs.String())
		}
	}
}

// TestShutdownClosesWebSocketsWhileRequestsDrain: a slow HTTP request in
// flight does not hold the WebSockets back: their clients get 1001 and
// their targets ws.leave "shutdown" at once, the slow request's context is
// cancelled at the end of the drain window, and the processes still get
// their grace period inside the deadline.
func TestShutdownClosesWebSocketsWhileRequestsDrain(t *testing.T) {
	ta := startEdgeApp(t, nil)
	c, resp, err := wsclient.Dial("ws://"+ta.addr+"/ws/connect", nil)
	if err != nil {
		t.Fatalf("dial: %v %+v", err, resp)
	}
	defer c.Close()
	ta.next(t, "join")
	slowDone := make(chan error, 1)
	go func() {
		resp, err := http.Get(ta.base + "/api/slow")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		slowDone <- err
	}()
	ta.next(t, "slow_started")

	// Deadline 4s: 2s are kept for processes (cancel_grace 1s + 1s, at
	// most half), so the slow request may drain for 2s.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	shutdownDone := make(chan error, 1)
	go func() { shutdownDone <- ta.Shutdown(ctx) }()

	code, reason, err := c.ReadClose()
	if err != nil || code != 1001 {
		t.Fatalf("while a request drained the client got close %d %q %v, want 1001", code, reason, err)
	}
	if r, _ := ta.next(t, "leave").Payload.Text(); r != "shutdown" {
		t.Errorf("ws.leave reason %q, want shutdown; log:\n%s", r, ta.logs.String())
	}
	// At the end of the drain window the slow request is cancelled, and
	// the processes still end within their grace period.
	err = <-shutdownDone
	if err == nil || !strings.Contains(err.Error(), "drain window ended were cancelled") {
		t.Errorf("shutdown did not report the request it cut: %v", err)
	}
	var se *process.ShutdownError
	if errors.As(err, &se) {
		t.Errorf("processes did not stop in time: %v", err)
	}
	<-slowDone
	if n := ta.Node().Stats().Processes; n != 0 {
		t.Errorf("%d processes still running", n)
	}
}
