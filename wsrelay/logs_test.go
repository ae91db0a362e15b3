package wsrelay_test

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/internal/ratelog"
	"github.com/wsrelay/wsrelay/internal/relaytest"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// Log lines that clients and the app's code can cause at will are
// limited per relay, each kind on its own (docs/relay.md, "Log lines").

// logEnv is a relay whose log limits run on a clock the test moves, in
// front of a handler that relays to an echoing target, or sets an
// invalid relay header for the path /bad.
type logEnv struct {
	rl     *wsrelay.Relay
	node   *process.Node
	target *proctest.Probe
	logs   *testlog.Buffer
	url    string // ws://…/ws
	http   string // http://…
	now    atomic.Int64
}

func newLogEnv(t *testing.T) *logEnv {
	t.Helper()
	e := &logEnv{}
	e.now.Store(time.Unix(1000, 0).UnixNano())
	logs, log := testlog.New(slog.LevelDebug)
	node, err := process.NewNode(&process.Options{Name: "n1", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.AddHost(host, &process.HostOptions{CancelGrace: time.Second}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := node.Shutdown(ctx); err != nil {
			t.Errorf("node shutdown: %v", err)
		}
	})
	rl, err := wsrelay.New(wsrelay.Options{Node: node, Logger: log, Route: "test:ws"})
	if err != nil {
		t.Fatal(err)
	}
	wsrelay.SetLogClock(rl, func() time.Time { return time.Unix(0, e.now.Load()) })
	e.rl, e.node, e.logs = rl, node, logs
	e.target = proctest.Spawn(t, node, host, nil)
	good := `{"target_pid":"` + e.target.PID.String() + `"}`
	srv, url := relaytest.Serve(t, rl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.Header().Set(wsrelay.HeaderName, `{"target_pid":"not a pid"}`)
			return
		}
		w.Header().Set(wsrelay.HeaderName, good)
	}))
	e.url, e.http = url, srv.URL
	return e
}

// nextSecond moves the limits' clock on by a second.
func (e *logEnv) nextSecond() { e.now.Add(int64(time.Second)) }

// refuseOrigins sends n requests from an origin the relay refuses (403
// before the handler runs), over one kept-alive connection.
func (e *logEnv) refuseOrigins(t *testing.T, n int) {
	t.Helper()
	c := &http.Client{Timeout: timeout}
	for range n {
		req, _ := http.NewRequest("GET", e.http+"/ws", nil)
		req.Header.Set("Origin", "https://evil.example")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status %d, want 403", resp.StatusCode)
		}
	}
	c.CloseIdleConnections()
}

var suppressedRE = regexp.MustCompile(`msg="(\d+) ([^"]+) suppressed"`)

// suppressed returns the counts of the "suppressed" lines of kind what.
func suppressed(out, what string) []int {
	var counts []int
	for _, m := range suppressedRE.FindAllStringSubmatch(out, -1) {
		if m[2] == what {
			n, _ := strconv.Atoi(m[1])
			counts = append(counts, n)
		}
	}
	return counts
}

// TestLogsClientFlood: thousands of refused origins, hostile handshakes
// and connections closed for a bad frame write the limit's worth of
// lines in one second, then one line counting the others; meanwhile the
// app's own error (an invalid relay header) is still logged.
func TestLogsClientFlood(t *testing.T) {
	e := newLogEnv(t)
	const origins, handshakes, frames = 1500, 300, 100
	e.refuseOrigins(t, origins)
	addr := strings.TrimPrefix(e.http, "http://")
	for range handshakes {
		resp, _, err := wsclient.RawRequest(addr, "GET /ws HTTP/1.1\r\nHost: "+addr+"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n", timeout)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("bad handshake: status %d, want 400", resp.StatusCode)
		}
	}
	var wg sync.WaitGroup
	for range 4 { // a few clients at a time, on a loaded machine too
		wg.Go(func() {
			for range frames / 4 {
				c, _, err := wsclient.Dial(e.url, nil)
				if err != nil {
					t.Error(err)
					return
				}
				_ = c.WriteFrame(true, 0, wsclient.OpText, []byte{0xff, 0xfe}, true) // not UTF-8: 1007
				code, _, err := c.ReadClose()
				c.Close()
				if err != nil || code != 1007 {
					t.Errorf("bad frame: close %d %v, want 1007", code, err)
					return
				}
			}
		})
	}
	wg.Wait()
	poll.Until(t, timeout, "every connection to end", func() bool { return e.rl.Connections() == 0 })

	// The app's error gets through: it has a limit of its own.
	resp, err := http.Get(e.http + "/bad")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out := e.logs.String()
	if !strings.Contains(out, `msg="the handler set an invalid X-WS-Relay header"`) {
		t.Fatalf("the app's error was silenced by the client flood:\n%s", tail(out))
	}
	written := strings.Count(out, `route=test:ws`) - 1 // the relay's lines, less the app's
	if written != ratelog.PerSecond {
		t.Fatalf("%d lines about clients written in one second, want the limit, %d:\n%s", written, ratelog.PerSecond, tail(out))
	}

	// A second later, the next line comes after the count of the others.
	e.nextSecond()
	e.refuseOrigins(t, 1)
	out = e.logs.String()
	counts := suppressed(out, "lines about websocket clients")
	if len(counts) != 1 || counts[0] < origins+handshakes+frames-ratelog.PerSecond {
		t.Fatalf("suppressed counts %v, want one of at least %d:\n%s", counts, origins+handshakes+frames-ratelog.PerSecond, tail(out))
	}
	if last := lastLines(out, 2); !strings.Contains(last, "lines about websocket clients suppressed") || !strings.Contains(last, "websocket origin refused") {
		t.Fatalf("want the count, then the refusal after it:\n%s", tail(out))
	}
}

// TestLogsAppFlood: a process that floods a client with messages it
// cannot take writes the limit's worth of lines, each with the message cut
// to a bounded length; a client's refusal is still logged meanwhile.
func TestLogsAppFlood(t *testing.T) {
	e := newLogEnv(t)
	c, _, err := wsclient.Dial(e.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	client, _ := e.target.Next("ws.join").Payload.Get("client_pid")
	to, _ := client.Text()
	for range 1000 {
		e.target.Send(to, "ws.send", value.Map(value.Field{Key: "type", Value: value.String("bogus")}))
	}
	// A ws.close with a code that may not be sent, and a megabyte reason.
	huge := strings.Repeat("x", 1<<20)
	e.target.Send(to, "ws.close", value.Map(value.Field{Key: "code", Value: value.Int(1005)}, value.Field{Key: "reason", Value: value.String(huge)}))
	if code, _, err := c.ReadClose(); err != nil || code != 1000 {
		t.Fatalf("close %d %v, want 1000", code, err)
	}
	e.refuseOrigins(t, 1)
	out := e.logs.String()
	if n := strings.Count(out, "message to a websocket client ignored"); n != ratelog.PerSecond {
		t.Fatalf("%d lines of ignored messages, want the limit, %d:\n%s", n, ratelog.PerSecond, tail(out))
	}
	if !strings.Contains(out, "websocket origin refused") {
		t.Fatalf("a client's refusal was silenced by the app's flood:\n%s", tail(out))
	}
	e.nextSecond()
	e.target.Send(to, "ws.send", value.Map(value.Field{Key: "type", Value: value.String("bogus")})) // to a closed client: dropped, unlogged
	c2, _, err := wsclient.Dial(e.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	m := e.target.Recv()
	for m.Topic != "ws.join" { // the first client's ws.leave first
		m = e.target.Recv()
	}
	client2, _ := m.Payload.Get("client_pid")
	to2, _ := client2.Text()
	e.target.Send(to2, "ws.close", value.Map(value.Field{Key: "code", Value: value.Int(1005)}, value.Field{Key: "reason", Value: value.String(huge)}))
	if _, _, err := c2.ReadClose(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "the ws.close line", func() bool {
		return strings.Contains(e.logs.String(), "that close code may not be sent")
	})
	out = e.logs.String()
	if counts := suppressed(out, "lines about the app's relay errors"); len(counts) != 1 || counts[0] < 1000-ratelog.PerSecond {
		t.Fatalf("suppressed counts %v, want one of at least %d:\n%s", counts, 1000-ratelog.PerSecond, tail(out))
	}
	for _, l := range strings.Split(out, "\n") {
		if len(l) > 4<<10 {
			t.Fatalf("a log line of %d bytes: a script's text is not cut:\n%.300s…", len(l), l)
		}
	}
}

// tail is the end of a log, for failure messages.
func tail(out string) string {
	if len(out) > 3000 {
		return "…" + out[len(out)-3000:]
	}
	return out
}

// lastLines returns the last n lines of out.
func lastLines(out string, n int) string {
	ls := strings.Split(strings.TrimSpace(out), "\n")
	return strings.Join(ls[max(0, len(ls)-n):], "\n")
}
