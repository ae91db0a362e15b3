package examples_test

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/wsclient"
)

// These tests replay, against the chat example, what a hostile client did
// at the edges of the server: handshakes, Host names, static files.

// raw sends req over a new TCP connection and reads the answer.
func raw(t testing.TB, addr, req string) (*http.Response, string) {
	t.Helper()
	resp, body, err := wsclient.RawRequest(addr, req, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func spawned(t testing.TB, app *gateway.App, host string) uint64 {
	t.Helper()
	h, ok := app.Node().Host(host)
	if !ok {
		t.Fatalf("no host %s", host)
	}
	return h.Stats().Spawned
}

// TestChatBadHandshakesSpawnNothing: handshakes with a bad
// Sec-WebSocket-Key (or version) are refused before the chat's handler
// runs, so they spawn no greeter.
func TestChatBadHandshakesSpawnNothing(t *testing.T) {
	addr, app, _ := startExample(t, "chat", "chat:gateway")
	// One good client first: the rooms service and the room are running
	// when the count is taken.
	join(t, addr, "ada", "lobby").until("welcome")
	before := spawned(t, app, "chat:processes")
	const n = 300
	for i := range n {
		key := "not a key"
		if i%2 == 1 {
			key = "c2hvcnQ=" // base64, but of 5 bytes
		}
		resp, body := raw(t, addr, "GET /ws/chat?nick=x HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: "+key+"\r\n\r\n")
		if resp.StatusCode != 400 || !strings.Contains(body, "Sec-WebSocket-Key") {
			t.Fatalf("bad key: %d %q, want 400 naming Sec-WebSocket-Key", resp.StatusCode, body)
		}
	}
	resp, body := raw(t, addr, "GET /ws/chat?nick=x HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	if resp.StatusCode != 426 || resp.Header.Get("Sec-WebSocket-Version") != "13" || !strings.Contains(body, "version 13") {
		t.Errorf("version 8: %d %v %q, want 426 with Sec-WebSocket-Version: 13", resp.StatusCode, resp.Header, body)
	}
	if after := spawned(t, app, "chat:processes"); after != before {
		t.Errorf("%d bad handshakes spawned %d process(es)", n+1, after-before)
	}
	_, metrics := raw(t, addr, "GET /metrics HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n")
	for _, want := range []string{`wsrelay_requests_refused_total{reason="bad_handshake"} 300`, `wsrelay_requests_refused_total{reason="bad_version"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// A good client still gets in.
	join(t, addr, "bob", "lobby").until("welcome")
}

// TestChatRefusesRebinding: the chat listens on 127.0.0.1; a page served
// from a name the attacker rebound to 127.0.0.1 is "same-origin" with its
// own Host, and used to get 101. Now any Host that is not a loopback name
// gets 421 before the handler runs, on the page and the WebSocket alike.
func TestChatRefusesRebinding(t *testing.T) {
	addr, app, _ := startExample(t, "chat", "chat:gateway")
	_, port, _ := net.SplitHostPort(addr)
	join(t, addr, "ada", "lobby").until("welcome") // Host and Origin 127.0.0.1:port
	before := spawned(t, app, "chat:processes")
	evil := "attacker.example:" + port
	resp, body := raw(t, addr, "GET /ws/chat?nick=x HTTP/1.1\r\nHost: "+evil+"\r\nOrigin: http://"+evil+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
	if resp.StatusCode != 421 || !strings.Contains(body, "loopback") {
		t.Errorf("rebound WebSocket: %d %q, want 421", resp.StatusCode, body)
	}
	if resp, _ := raw(t, addr, "GET / HTTP/1.1\r\nHost: "+evil+"\r\n\r\n"); resp.StatusCode != 421 {
		t.Errorf("rebound page: %d, want 421", resp.StatusCode)
	}
	if after := spawned(t, app, "chat:processes"); after != before {
		t.Errorf("a refused Host spawned %d process(es)", after-before)
	}
	_, metrics := raw(t, addr, "GET /metrics HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n")
	if !strings.Contains(metrics, `wsrelay_requests_refused_total{reason="host"} 2`) {
		t.Error(`/metrics lacks wsrelay_requests_refused_total{reason="host"} 2`)
	}
	// The page's own names still work: localhost and 127.0.0.1.
	if resp, body := raw(t, addr, "GET / HTTP/1.1\r\nHost: localhost:"+port+"\r\n\r\n"); resp.StatusCode != 200 || !strings.Contains(body, "<html") {
		t.Errorf("localhost page: %d", resp.StatusCode)
	}
}

// TestChatStaticStaysInPublic: the chat's public/ with a symlink to
// /etc/passwd, a .env and a .git/config serves none of them, and /%00 is
// a 400, not a 500.
func TestChatStaticStaysInPublic(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("chat")); err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, "public")
	if err := os.Symlink("/etc/passwd", filepath.Join(pub, "passwd_link")); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(pub, ".git"), 0o755)
	os.WriteFile(filepath.Join(pub, ".git", "config"), []byte("[remote]\n"), 0o644)
	os.WriteFile(filepath.Join(pub, ".env"), []byte("SECRET=1\n"), 0o644)
	addr, _, _ := startExample(t, dir, "chat:gateway")
	for path, want := range map[string]int{"/passwd_link": 404, "/.env": 404, "/.git/config": 404, "/%00": 400, "/": 200, "/app.js": 200} {
		resp, body := raw(t, addr, "GET "+path+" HTTP/1.1\r\nHost: "+addr+"\r\n\r\n")
		if resp.StatusCode != want || strings.Contains(body, "root:") || strings.Contains(body, "SECRET") {
			t.Errorf("GET %s: %d %.80q, want %d", path, resp.StatusCode, body, want)
		}
	}
}
