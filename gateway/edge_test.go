package gateway_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
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

// TestStaticStaysInItsDirectory: symlinks that lead out of the static
// directory, dotfiles and dot-directories are 404; a NUL byte is 400; a
// symlink that stays inside still works.
func TestStaticStaysInItsDirectory(t *testing.T) {
	ta := startEdgeApp(t, func(dir string) {
		pub := filepath.Join(dir, "public")
		for link, target := range map[string]string{
			"passwd_link": "/etc/passwd",
			"up_link":     "../_index.yaml", // in the app, but out of public/
			"out_dir":     "..",
			"inside_link": "sub/file.txt",
		} {
			if err := os.Symlink(target, filepath.Join(pub, link)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(filepath.Join(pub, ".git"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(pub, ".git", "config"), []byte("[core]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/", 200, "edge home"},
		{"/sub/file.txt", 200, "nested"},
		{"/inside_link", 200, "nested"},
		{"/passwd_link", 404, "404 page not found"},
		{"/up_link", 404, "404 page not found"},
		{"/out_dir/_index.yaml", 404, "404 page not found"},
		{"/.env", 404, "404 page not found"},
		{"/.git/config", 404, "404 page not found"},
		{"/sub/.env", 404, "404 page not found"},
		{"/%2egit/config", 404, "404 page not found"},
		{"/%00", 400, "the path contains a NUL byte"},
		{"/sub/a%00b", 400, "the path contains a NUL byte"},
	} {
		resp, body := ta.do(t, "GET", tc.path, "", nil)
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.body) {
			t.Errorf("GET %s: %d %q, want %d with %q", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
	}
	if !strings.Contains(ta.logs.String(), "static file refused: it leads out of its directory") {
		t.Errorf("the symlink out of the directory was not logged:\n%s", ta.logs.String())
	}
}

// TestRelayHeaderNeverLeaks: a function on a router without
// websocket_relay that sets X-WS-Relay gets its header removed, for a
// plain request and a WebSocket handshake alike; the first time is logged
// as a warning, and Build warned about it already.
func TestRelayHeaderNeverLeaks(t *testing.T) {
	ta := startEdgeApp(t, nil)
	if w := ta.Warnings(); len(w) != 1 || !strings.Contains(w[0], "app:leaky") || !strings.Contains(w[0], "does not list websocket_relay") {
		t.Errorf("build warnings %q, want one naming app:leaky", w)
	}
	for range 2 {
		resp, _ := ta.do(t, "GET", "/api/leaky", "", nil)
		if resp.StatusCode != 200 || len(resp.Header.Values("X-WS-Relay")) != 0 {
			t.Errorf("plain request: %d %v", resp.StatusCode, resp.Header)
		}
		ta.next(t, "spawned")
	}
	_, resp, err := wsclient.Dial("ws://"+ta.addr+"/api/leaky", nil)
	if err == nil || resp == nil || len(resp.Header.Values("X-WS-Relay")) != 0 {
		t.Errorf("handshake to a router without the relay: %v %+v", err, resp)
	}
	ta.next(t, "spawned")
	logs := ta.logs.String()
	if n := strings.Count(logs, "level=WARN msg=\"an endpoint set X-WS-Relay on a router without websocket_relay"); n != 1 {
		t.Errorf("%d warnings for the removed header, want 1 (the first time):\n%s", n, logs)
	}
	if !strings.Contains(logs, "endpoint=app:leaky router=app:api") {
		t.Errorf("the warning does not name the endpoint and router:\n%s", logs)
	}
	// The relay's own router still relays (the guard does not get in its way).
	c, resp, err := wsclient.Dial("ws://"+ta.addr+"/ws/connect", nil)
	if err != nil {
		t.Fatalf("dial the relay: %v %+v", err, resp)
	}
	c.Close()
	if len(resp.Header.Values("X-WS-Relay")) != 0 {
		t.Error("the relay header reached a relayed client")
	}
}

// TestLoopbackServiceRefusesForeignHosts: a service on 127.0.0.1 answers
// a Host that is neither loopback nor in allowed_hosts with 421, on every
// route (static files, endpoints, WebSockets), before any handler runs;
// loopback names and allowed_hosts get through, WebSockets included.
func TestLoopbackServiceRefusesForeignHosts(t *testing.T) {
	ta := startEdgeApp(t, nil)
	_, port, _ := net.SplitHostPort(ta.addr)
	get := func(host, path string, upgrade bool) (int, string) {
		t.Helper()
		req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nOrigin: http://" + host + "\r\n"
		if upgrade {
			req += "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
		}
		resp, body, err := wsclient.RawRequest(ta.addr, req+"\r\n", 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}
	for _, host := range []string{"attacker.example:" + port, "attacker.example", "corp.test"} {
		for _, path := range []string{"/", "/api/leaky", "/ws/connect"} {
			status, body := get(host, path, path == "/ws/connect")
			if status != 421 || !strings.Contains(body, "listens on a loopback address") {
				t.Errorf("Host %s, %s: %d %q, want 421", host, path, status, body)
			}
		}
	}
	select {
	case m := <-ta.probe:
		t.Errorf("a handler ran for a refused Host: %v", m)
	default:
	}
	for _, host := range []string{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "app.test:" + port, "a.corp.test"} {
		if status, body := get(host, "/", false); status != 200 || !strings.Contains(body, "edge home") {
			t.Errorf("Host %s: %d %q, want 200", host, status, body)
		}
	}
	// The relay applies the service's allowed_hosts too.
	if status, body := get("app.test:"+port, "/ws/connect", true); status != 101 {
		t.Errorf("WebSocket with an allowed Host: %d %q, want 101", status, body)
	}
}

// TestStaticEscapeWarningNotSpent: a path under a file (/index.html/x)
// or with a name too long for the file system is a plain 404, not a
// "leads out of its directory" warning: such requests (anyone can send
// them) used to take the one warning, so a real symlink out of the
// directory was then logged at debug level only.
func TestStaticEscapeWarningNotSpent(t *testing.T) {
	ta := startEdgeApp(t, func(dir string) {
		if err := os.Symlink("/etc/passwd", filepath.Join(dir, "public", "passwd_link")); err != nil {
			t.Fatal(err)
		}
	})
	for _, p := range []string{"/index.html/x", "/sub/file.txt/x", "/" + strings.Repeat("a", 300)} {
		if resp, body := ta.do(t, "GET", p, "", nil); resp.StatusCode != 404 {
			t.Errorf("GET %.40s: %d %q, want 404", p, resp.StatusCode, body)
		}
	}
	if logs := ta.logs.String(); strings.Contains(logs, "static file refused") {
		t.Fatalf("a path that does not exist was logged as leading out of the directory:\n%s", logs)
	}
	if resp, _ := ta.do(t, "GET", "/passwd_link", "", nil); resp.StatusCode != 404 {
		t.Fatalf("GET /passwd_link: %d", resp.StatusCode)
	}
	if logs := ta.logs.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "path=passwd_link") {
		t.Fatalf("the symlink out of the directory was not the warning:\n%s", logs)
	}
}

// TestStaticRangesBounded: a Range header of many ranges (each one byte,
// so their sum stays under the file's size) made a multipart answer of
// about 140 bytes a range: 36 times the request, for any client. Past 16
// ranges the header is ignored and the file is served whole; a few
// ranges still get 206.
func TestStaticRangesBounded(t *testing.T) {
	ta := startEdgeApp(t, func(dir string) {
		if err := os.WriteFile(filepath.Join(dir, "public", "big.txt"), []byte(strings.Repeat("0123456789", 1000)), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	many := "bytes=" + strings.TrimSuffix(strings.Repeat("0-0,", 5000), ",")
	resp, body := ta.do(t, "GET", "/big.txt", "", map[string]string{"Range": many})
	if resp.StatusCode != 200 || len(body) != 10000 {
		t.Errorf("5000 ranges: %d, %d bytes; want the file whole (200, 10000 bytes)", resp.StatusCode, len(body))
	}
	resp, body = ta.do(t, "GET", "/big.txt", "", map[string]string{"Range": "bytes=0-1,10-11"})
	if resp.StatusCode != 206 || !strings.Contains(body, "01") {
		t.Errorf("two ranges: %d %q", resp.StatusCode, body)
	}
}
