package observer_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/observer"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

func post(t *testing.T, url, body string, header http.Header) (int, string) {
	t.Helper()
	return request(t, "POST", url, body, header)
}

// TestActionsAreOffByDefault: a read-only observer refuses every action
// and says how to enable them.
func TestActionsAreOffByDefault(t *testing.T) {
	o, node := start(t, "")
	w := waiter(t, node, "victim")
	code, body := post(t, "http://"+o.Addr()+"/api/act", `{"do":"kill","pid":"`+w.String()+`"}`, nil)
	if code != 403 || !strings.Contains(body, "--observe-actions") {
		t.Fatalf("kill on a read-only observer: %d %s", code, body)
	}
	if !node.Alive(w) {
		t.Fatal("the process was killed anyway")
	}
}

// TestActions: with actions on, a page can kill and cancel a process,
// send one a message, and close a relay connection with the code and
// reason it chose; a page of another origin cannot; bad actions are
// refused with what was wrong.
func TestActions(t *testing.T) {
	o, node := startWith(t, observer.Options{Actions: true})
	act := "http://" + o.Addr() + "/api/act"

	killed := waiter(t, node, "to-kill")
	if code, body := post(t, act, `{"do":"kill","pid":"`+killed.String()+`"}`, nil); code != 204 {
		t.Fatalf("kill: %d %s", code, body)
	}
	poll.Until(t, timeout, "the killed process gone", func() bool { return !node.Alive(killed) })

	cancelled := waiter(t, node, "to-cancel")
	if code, body := post(t, act, `{"do":"cancel","pid":"`+cancelled.String()+`"}`, http.Header{"Origin": {"http://" + o.Addr()}}); code != 204 {
		t.Fatalf("cancel from the observer's own page: %d %s", code, body)
	}
	poll.Until(t, timeout, "the cancelled process gone", func() bool { return !node.Alive(cancelled) })

	got := make(chan string, 1)
	receiver, err := node.Spawn("app", func(p *process.Process) (value.Value, error) {
		m, ok := p.Receive(p.Context())
		if ok {
			s, _ := m.Payload.Get("n")
			got <- m.Topic + " " + s.String()
		}
		return value.Nil(), nil
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := post(t, act, `{"do":"send","pid":"`+receiver.String()+`","topic":"hello","payload":{"n":7}}`, nil); code != 204 {
		t.Fatalf("send: %d %s", code, body)
	}
	if m := <-got; m != "hello 7" {
		t.Fatalf("the process got %q", m)
	}

	// The observer's own live page is a relay connection: close it.
	c, _, err := wsclient.Dial("ws://"+o.Addr()+"/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var conn pid.PID
	poll.Until(t, timeout, "the page's connection process", func() bool {
		node.Processes(func(p process.ProcessInfo) bool {
			if p.Host == observer.Host && p.Watchers == 0 && p.Monitors == 1 {
				conn = p.PID
			}
			return true
		})
		return !conn.IsZero()
	})
	if code, body := post(t, act, `{"do":"close","pid":"`+conn.String()+`","code":4321,"reason":"bye from ops"}`, nil); code != 204 {
		t.Fatalf("close: %d %s", code, body)
	}
	for {
		f, err := c.ReadFrame()
		if err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		if f.Op == 8 {
			if cc, reason := int(f.Payload[0])<<8|int(f.Payload[1]), string(f.Payload[2:]); cc != 4321 || reason != "bye from ops" {
				t.Fatalf("close %d %q", cc, reason)
			}
			break
		}
	}

	victim := waiter(t, node, "victim")
	for _, tc := range []struct {
		body   string
		header http.Header
		code   int
		want   string
	}{
		{`{"do":"kill","pid":"` + victim.String() + `"}`, http.Header{"Origin": {"https://evil.example"}}, 403, "observer's own pages"},
		{`{"do":"explode","pid":"` + victim.String() + `"}`, nil, 400, `unknown action "explode"`},
		{`{"do":"kill","pid":"nonsense"}`, nil, 400, `pid "nonsense"`},
		{`{"do":"kill","pid":"{n2@app|5}"}`, nil, 400, "not a process of this node"},
		{`{"do":"close","pid":"` + victim.String() + `","code":1005}`, nil, 400, "close code 1005 may not be sent"},
		{`{"do":"send","pid":"` + victim.String() + `","topic":"@exit"}`, nil, 400, "not starting with '@'"},
		{`{"do":"send","pid":"` + victim.String() + `","topic":"x","payload":[1,}`, nil, 400, "not JSON"},
		{`{"do":"kill"` + strings.Repeat(" ", 70000) + `}`, nil, 413, "over 65536 bytes"},
	} {
		if code, body := post(t, act, tc.body, tc.header); code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%.60s: %d %q, want %d and %q", tc.body, code, body, tc.code, tc.want)
		}
	}
	if !node.Alive(victim) {
		t.Fatal("a refused action killed the process")
	}
}
