package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/internal/poll"
)

var embeddedNATS = regexp.MustCompile(`"embedded NATS listening" url=(\S+)`)

// TestRunTwoNodes: one run embeds NATS, a second joins it with --cluster
// (its name from WSRELAY_NODE, the secret from WSRELAY_CLUSTER_SECRET);
// each sees the other up, and both stop cleanly.
func TestRunTwoNodes(t *testing.T) {
	dir := writeApp(t, smallApp)
	t.Setenv("WSRELAY_CLUSTER_SECRET", testSecret)
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

const testSecret = "a secret of more than sixteen bytes"

func TestRunClusterNeedsANodeName(t *testing.T) {
	dir := writeApp(t, smallApp)
	t.Setenv("WSRELAY_CLUSTER_SECRET", testSecret)
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

// TestEmbeddedNATSFlags: what is wrong with the flags of an embedded NATS
// is said before anything starts, with what to do.
func TestEmbeddedNATSFlags(t *testing.T) {
	dir := writeApp(t, smallApp)
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("tiny\n"), 0o600)
	good := filepath.Join(t.TempDir(), "good")
	os.WriteFile(good, []byte(testSecret+"\n"), 0o600)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, c := range []struct {
		env  string // WSRELAY_CLUSTER_SECRET
		args []string
		want string
	}{
		{"", []string{"--nats-listen", "127.0.0.1:0"}, "--nats-listen needs a cluster secret"},
		{"", []string{"--nats-listen", "127.0.0.1:0", "--cluster-secret-file", short}, "the cluster secret has 4 bytes; use 16 or more"},
		{"short", []string{"--nats-listen", "127.0.0.1:0"}, "WSRELAY_CLUSTER_SECRET: the cluster secret has 5 bytes"},
		{testSecret, []string{"--nats-listen", "127.0.0.1:0", "--cluster-secret-file", good}, "not both"},
		{"", []string{"--nats-listen", "127.0.0.1:0", "--cluster-secret-file", filepath.Join(t.TempDir(), "none")}, "--cluster-secret-file: stat"},
		{testSecret, []string{"--nats-listen", "127.0.0.1:0", "--nats-routes", "nats://127.0.0.1:1"}, "--nats-routes and --nats-cluster-listen go together"},
		{testSecret, []string{"--nats-listen", "127.0.0.1:0", "--nats-cluster-listen", "127.0.0.1:0", "--nats-routes", "nats://u:p@127.0.0.1:1"}, "want nats://HOST:PORT (the secret is added)"},
		{testSecret, []string{"--nats-listen", "127.0.0.1:0", "--nats-cluster-listen", "127.0.0.1:0", "--nats-routes", "tls://127.0.0.1:1"}, "want nats://HOST:PORT"},
		{testSecret, []string{"--cluster", "nats://127.0.0.1:1", "--nats-routes", "nats://127.0.0.1:1"}, "they need --nats-listen"},
		{testSecret, []string{"--nats-listen", "127.0.0.1:99999"}, "bad port"},
		{testSecret, []string{"--nats-listen", "127.0.0.1:0", "--nats-cluster-listen", busy.Addr().String(), "--nats-routes", "nats://" + busy.Addr().String()},
			"embedded NATS: Error listening on router port"},
	} {
		t.Setenv("WSRELAY_CLUSTER_SECRET", c.env)
		args := append(append([]string{"run", "--node", "x"}, c.args...), dir)
		code, _, errOut := runCmd(args...)
		if code != 2 || !strings.Contains(errOut, c.want) {
			t.Errorf("%v (secret %q): exit %d, %q; want %q", c.args, c.env, code, errOut, c.want)
		}
	}
}

// TestEmbeddedNATSRequiresTheSecret: the embedded server refuses a
// client without the secret, or with another one, and takes one with it.
func TestEmbeddedNATSRequiresTheSecret(t *testing.T) {
	dir := writeApp(t, smallApp)
	t.Setenv("WSRELAY_CLUSTER_SECRET", testSecret)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncWriter{}
	done := make(chan int, 1)
	go func() {
		// Debug lines too, with a route to a server that is not there: the
		// route's URL, secret and all, is in what the server logs.
		done <- run(ctx, []string{"run", "--log-level", "debug", "--node", "n1", "--nats-listen", "127.0.0.1:0",
			"--nats-cluster-listen", "127.0.0.1:0", "--nats-routes", "nats://127.0.0.1:" + strconv.Itoa(freePort(t)), dir}, io.Discard, logs)
	}()
	var url string
	poll.Until(t, timeout, "the embedded NATS line in the log", func() bool {
		if m := embeddedNATS.FindStringSubmatch(logs.String()); m != nil {
			url = m[1]
		}
		return url != ""
	})
	poll.Until(t, timeout, "a failed route in the log", func() bool { return strings.Contains(logs.String(), "route") })
	for name, opts := range map[string][]nats.Option{
		"no credentials": nil,
		"another secret": {nats.UserInfo(nodeUser, "another secret, just as long")},
	} {
		if nc, err := nats.Connect(url, opts...); !errors.Is(err, nats.ErrAuthorization) {
			t.Errorf("%s: connect: %v, want %v", name, err, nats.ErrAuthorization)
			if nc != nil {
				nc.Close()
			}
		}
	}
	nc, err := nats.Connect(url, nats.UserInfo(nodeUser, testSecret))
	if err != nil {
		t.Fatalf("with the secret: %v", err)
	}
	nc.Close()
	cancel()
	if code := <-done; code != 1 {
		t.Errorf("exit %d, want 1 (stopped while it waited for the other servers):\n%s", code, logs)
	}
	if strings.Contains(logs.String(), testSecret) {
		t.Errorf("the secret is in the log:\n%s", logs)
	}
}

// TestNATSLinesGoThroughTheLogger: what the NATS client reports (an async
// error, a lost connection) and what the embedded server says become
// lines of the node's logger, at their level, held to a rate.
func TestNATSLinesGoThroughTheLogger(t *testing.T) {
	var out syncWriter
	log := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var o nats.Options
	for _, opt := range clientLogOptions(log) {
		if err := opt(&o); err != nil {
			t.Fatal(err)
		}
	}
	if o.AsyncErrorCB == nil || o.DisconnectedErrCB == nil || o.ReconnectedCB == nil || o.ClosedCB == nil {
		t.Fatal("a NATS client handler is not set: the client would print on stderr or say nothing")
	}
	o.AsyncErrorCB(nil, nil, nats.ErrSlowConsumer)
	o.DisconnectedErrCB(nil, io.EOF)
	for _, want := range []string{
		`"level":"WARN","msg":"NATS: error","component":"nats-client","error":"nats: slow consumer, messages dropped"`,
		`"level":"WARN","msg":"NATS: connection lost; reconnecting","component":"nats-client","error":"EOF"`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %s in:\n%s", want, out.String())
		}
	}

	out = syncWriter{}
	sl := newServerLog(log)
	for range 100 {
		sl.Errorf("Error trying to connect to route (attempt %d): %v", 1, "refused")
	}
	sl.Warnf("a warning")
	sl.Noticef("a notice")
	sl.Tracef("a trace")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 ||
		!strings.Contains(lines[0], `"level":"ERROR","msg":"nats-server: Error trying to connect to route (attempt 1): refused","component":"nats-server"`) ||
		!strings.Contains(lines[1], `"level":"WARN","msg":"nats-server: a warning"`) ||
		!strings.Contains(lines[2], `"level":"DEBUG","msg":"nats-server: a notice"`) {
		t.Errorf("a line repeated 100 times is written once (for %v), then a warning and a notice; got:\n%s", serverRepeat, out.String())
	}
}

// TestSignalWhileWaitingForTheCluster: a node whose routed NATS servers
// have no majority up waits for them, and a SIGTERM ends the wait: it
// stops cleanly.
func TestSignalWhileWaitingForTheCluster(t *testing.T) {
	dir := writeApp(t, smallApp)
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte(testSecret), 0o600)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WSRELAY_CLUSTER_SECRET_FILE="+secret, "WSRELAY_CLUSTER_SECRET=",
		"WSRELAY_TEST_MAIN=run --log-format json --node n1 --nats-listen 127.0.0.1:0 --nats-cluster-listen 127.0.0.1:0 --nats-routes nats://127.0.0.1:"+strconv.Itoa(freePort(t))+" "+dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor := logWaiter(t, stderr)
	waitFor(`"msg":"cluster: node joined"`) // then it waits for the names
	cmd.Process.Signal(syscall.SIGTERM)
	waitFor(`"msg":"signal received while joining the cluster"`)
	waitFor(`"msg":"stopped"`)
	if err := cmd.Wait(); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
}
