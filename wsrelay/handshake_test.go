package wsrelay_test

import (
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// rawRequest sends req as it is over a new TCP connection and reads the
// answer.
func rawRequest(t testing.TB, addr, req string) (*http.Response, string) {
	t.Helper()
	resp, body, err := wsclient.RawRequest(addr, req, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

const goodKey = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455's sample: 16 bytes

// handshake builds a raw upgrade request to /ws, replacing the named
// header lines (a "" value drops the header).
func handshake(method, proto string, replace map[string]string) string {
	h := []string{"Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version"}
	vals := map[string]string{"Host": "127.0.0.1", "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Key": goodKey, "Sec-WebSocket-Version": "13"}
	for k, v := range replace {
		if _, ok := vals[k]; !ok {
			h = append(h, k)
		}
		vals[k] = v
	}
	var b strings.Builder
	b.WriteString(method + " /ws " + proto + "\r\n")
	for _, k := range h {
		if vals[k] != "" {
			b.WriteString(k + ": " + vals[k] + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

// TestHandshakeValidatedBeforeHandler: a request that claims a WebSocket
// upgrade but is not a valid handshake is refused with a clear answer,
// and the handler (which would spawn a target) never runs.
func TestHandshakeValidatedBeforeHandler(t *testing.T) {
	m := &refusals{}
	e := newEnv(t, wsrelay.Options{Metrics: m})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	for _, tc := range []struct {
		name, method, proto string
		replace             map[string]string
		status              int
		body                string
	}{
		{"bad key", "GET", "HTTP/1.1", map[string]string{"Sec-WebSocket-Key": "not-base64!"}, 400, "Sec-WebSocket-Key must be 16 random bytes"},
		{"short key", "GET", "HTTP/1.1", map[string]string{"Sec-WebSocket-Key": "c2hvcnQ="}, 400, "Sec-WebSocket-Key must be 16 random bytes"},
		{"no key", "GET", "HTTP/1.1", map[string]string{"Sec-WebSocket-Key": ""}, 400, "exactly one Sec-WebSocket-Key"},
		{"two keys", "GET", "HTTP/1.1", map[string]string{"Sec-WebSocket-key": goodKey}, 400, "exactly one Sec-WebSocket-Key"},
		{"version 8", "GET", "HTTP/1.1", map[string]string{"Sec-WebSocket-Version": "8"}, 426, `unsupported Sec-WebSocket-Version "8"`},
		{"no version", "GET", "HTTP/1.1", map[string]string{"Sec-WebSocket-Version": ""}, 426, "unsupported Sec-WebSocket-Version none"},
		{"post", "POST", "HTTP/1.1", map[string]string{"Content-Length": "0"}, 400, "the method must be GET, not POST"},
		{"no connection upgrade", "GET", "HTTP/1.1", map[string]string{"Connection": "keep-alive"}, 400, `Connection header must include "Upgrade"`},
		{"upgrade list", "GET", "HTTP/1.1", map[string]string{"Upgrade": "websocket, h2c"}, 400, `Upgrade header must be exactly "websocket"`},
		{"http/1.0", "GET", "HTTP/1.0", nil, 400, "it needs HTTP/1.1, not HTTP/1.0"},
	} {
		resp, body := rawRequest(t, addr, handshake(tc.method, tc.proto, tc.replace))
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %q, want %d with %q", tc.name, resp.StatusCode, body, tc.status, tc.body)
		}
		if tc.status == 426 && resp.Header.Get("Sec-WebSocket-Version") != "13" {
			t.Errorf("%s: a 426 must name the version spoken: %v", tc.name, resp.Header)
		}
		if resp.Header.Get("X-Handler") != "" {
			t.Errorf("%s: the answer came from the handler", tc.name)
		}
	}
	if n := e.calls.Load(); n != 0 {
		t.Errorf("the handler ran %d time(s) for refused handshakes", n)
	}
	if got := m.get(wsrelay.RefusedHandshake); got != 8 {
		t.Errorf("%d refusals counted as %s, want 8", got, wsrelay.RefusedHandshake)
	}
	if got := m.get(wsrelay.RefusedVersion); got != 2 {
		t.Errorf("%d refusals counted as %s, want 2", got, wsrelay.RefusedVersion)
	}

	// A valid handshake still goes through, and so does a plain request
	// (the handler decides what it gets).
	c := e.dial(t, nil)
	tg.Next("ws.join")
	c.Close()
	e.setHeader("")
	resp, body := rawRequest(t, addr, "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
	if resp.StatusCode != 200 || body != "plain response" {
		t.Errorf("plain request: %d %q", resp.StatusCode, body)
	}
}

// refusals is a Metrics that counts refusals.
type refusals struct {
	wsrelay.Metrics
	mu sync.Mutex
	n  map[string]int
}

func (r *refusals) Opened()       {}
func (r *refusals) Closed(string) {}
func (r *refusals) FrameIn(int)   {}
func (r *refusals) FrameOut(int)  {}
func (r *refusals) Paused(string) {}
func (r *refusals) Refused(reason string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == nil {
		r.n = map[string]int{}
	}
	r.n[reason]++
}

func (r *refusals) get(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[reason]
}

// TestLoopbackHostRule: on a loopback connection, a Host that is not a
// loopback name (DNS rebinding: the attacker's name now points at
// 127.0.0.1, and its page is "same-origin") is refused with 421 before the
// handler runs; loopback names and configured names get through.
func TestLoopbackHostRule(t *testing.T) {
	m := &refusals{}
	e := newEnv(t, wsrelay.Options{Metrics: m, AllowedHosts: "app.test"})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	_, port, _ := net.SplitHostPort(addr)
	for _, tc := range []struct {
		host   string
		status int
	}{
		{"attacker.example:" + port, 421},
		{"attacker.example", 421},
		{"localhost.attacker.example:" + port, 421},
		{"localhost:" + port, 101},
		{"127.0.0.1:" + port, 101},
		{"app.test:" + port, 101},
	} {
		resp, body := rawRequest(t, addr, handshake("GET", "HTTP/1.1", map[string]string{"Host": tc.host, "Origin": "http://" + tc.host}))
		if resp.StatusCode != tc.status {
			t.Errorf("Host %s: %d %q, want %d", tc.host, resp.StatusCode, body, tc.status)
		}
		if tc.status == 421 && !strings.Contains(body, "listens on a loopback address") {
			t.Errorf("Host %s: the answer does not say why: %q", tc.host, body)
		}
		if tc.status == 101 {
			tg.Next("ws.join")
			tg.Next("ws.leave") // rawRequest hung up
		}
	}
	if n := e.calls.Load(); n != 3 {
		t.Errorf("the handler ran %d times, want 3 (never for a refused Host)", n)
	}
	if got := m.get(wsrelay.RefusedHost); got != 3 {
		t.Errorf("%d refusals counted as host, want 3", got)
	}
	if _, err := wsrelay.New(wsrelay.Options{Node: e.node, AllowedHosts: "app.test:8080"}); err == nil || !strings.Contains(err.Error(), "Options.AllowedHosts") {
		t.Errorf("a host with a port: %v", err)
	}
}

// TestHandshakeHeaderSplitOverLines: a Connection header split over two
// lines ("keep-alive", then "Upgrade"; HTTP lets a list be sent so) is a
// valid handshake, and it is the one that upgrades: the handler runs once
// and the client gets 101 and its target ws.join. (Validated as one list
// but upgraded by its first line alone, it ran the handler, which may
// spawn, and then answered 426.)
func TestHandshakeHeaderSplitOverLines(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	req := "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + goodKey + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	resp, body := rawRequest(t, addr, req)
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("%d %q, want 101", resp.StatusCode, body)
	}
	tg.Next("ws.join")
	if n := e.calls.Load(); n != 1 {
		t.Errorf("the handler ran %d times, want 1", n)
	}
}

// TestRefusalLogsAreBounded: what a refused request sent is quoted in
// the log clipped: an Origin or a path of 100 KB does not make an info
// line of 100 KB (anyone can send them, as often as they like).
func TestRefusalLogsAreBounded(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	addr := strings.TrimPrefix(e.srv.URL, "http://")
	long := strings.Repeat("a", 100<<10)
	resp, _ := rawRequest(t, addr, strings.Replace(handshake("GET", "HTTP/1.1", map[string]string{"Origin": "http://" + long + ".example"}), "/ws", "/ws/"+long, 1))
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("%d, want 403", resp.StatusCode)
	}
	var line string
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, "websocket origin refused") {
			line = l
		}
	}
	if line == "" || len(line) > 2000 {
		t.Fatalf("the refusal logged in %d bytes: %.300s…", len(line), line)
	}
}
