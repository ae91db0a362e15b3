package examples_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/gateway"
)

// These tests replay, against the chat example, what a hostile client did
// at the edges of the server: handshakes, Host names, static files.

// raw sends req over a new TCP connection and reads the answer.
func raw(t testing.TB, addr, req string) (*http.Response, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
	if err != nil {
		t.Fatalf("reading the answer to %q: %v", req, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b)
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
	a := join(t, addr, "ada", "lobby")
	a.until("welcome")
}
