package gateway_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
)

// TestRelayHubApp drives testdata/relayhub, an app shaped like the
// original runtime's relay module (a central hub under its service name
// takes every connection and moves it to the hub of its user, which routes
// messages to plugins by the prefix of their type), with real WebSocket
// clients through the real server.
func TestRelayHubApp(t *testing.T) {
	app, logs := apptest.Start(t, "testdata/relayhub")
	addr, _ := app.Addr("app:gateway")
	base := "ws://" + addr.String() + "/ws/join"
	dial := func(user string) *wsclient.Client {
		t.Helper()
		url := base
		if user != "" {
			url += "?user_id=" + user
		}
		c, resp, err := wsclient.Dial(url, nil)
		if err != nil {
			t.Fatalf("dial %s: %v %+v", user, err, resp)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	read := func(c *wsclient.Client) map[string]any {
		t.Helper()
		s, err := c.ReadText()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("%q: %v", s, err)
		}
		return m
	}
	welcome := func(c *wsclient.Client, user string, clients int) []any {
		t.Helper()
		m := read(c)
		d, _ := m["data"].(map[string]any)
		if m["topic"] != "welcome" || d["user_id"] != user || d["client_count"] != float64(clients) {
			t.Fatalf("welcome of %s: %v, want user %s with %d clients", user, m, user, clients)
		}
		return d["plugins"].([]any)
	}
	refused := func(c *wsclient.Client, code string) {
		t.Helper()
		if m := read(c); m["topic"] != "error" || !reflect.DeepEqual(m["data"], map[string]any{"code": code}) {
			t.Errorf("got %v, want error %s", m, code)
		}
		if cc, reason, err := c.ReadClose(); cc != 4000 || reason != code {
			t.Errorf("close %d %q %v, want 4000 %s", cc, reason, err, code)
		}
	}
	errorOf := func(c *wsclient.Client, code string) {
		t.Helper()
		if m := read(c); m["topic"] != "error" || !reflect.DeepEqual(m["data"], map[string]any{"code": code}) {
			t.Errorf("got %v, want error %s", m, code)
		}
	}

	ann1 := dial("ann")
	plugins := welcome(ann1, "ann", 1)
	if len(plugins) != 2 {
		t.Fatalf("plugins %v", plugins)
	}
	echo, session := plugins[0].(map[string]any), plugins[1].(map[string]any)
	if echo["prefix"] != "echo_" || echo["status"] != "not_started" || session["prefix"] != "session_" || session["status"] != "running" || session["process_id"] == "" {
		t.Errorf("plugins %v: session_ starts with the hub, echo_ on its first message", plugins)
	}
	poll.Until(t, 30*time.Second, "ann's session plugin to hear resume", func() bool {
		return strings.Contains(logs.String(), `msg="session resumed" entry=app:session_plugin`) && strings.Contains(logs.String(), "user=ann")
	})

	ann1.WriteText(`{"type":"session_get_state","data":{"key":"k1"}}`)
	if m := read(ann1); !reflect.DeepEqual(m, map[string]any{"type": "session_state", "data": map[string]any{"user_id": "ann", "active": true, "key": "k1"}}) {
		t.Errorf("session_get_state: %v", m)
	}
	ann1.WriteText(`{"type":"echo_hi","data":{"n":1}}`)
	if m := read(ann1); !reflect.DeepEqual(m, map[string]any{"type": "echo", "topic": "hi", "user_id": "ann", "data": map[string]any{"n": float64(1)}}) {
		t.Errorf("echo_hi: %v", m)
	}
	ann1.WriteText(`{"type":"chat_say"}`)
	errorOf(ann1, "plugin_not_found")
	ann1.WriteText(`not json`)
	errorOf(ann1, "invalid_json")
	ann1.WriteText(`{"data":1}`)
	errorOf(ann1, "unknown_command")

	// Another user has a hub of their own; a second connection of ann
	// joins ann's.
	bob := dial("bob")
	bobPlugins := welcome(bob, "bob", 1)
	if p := bobPlugins[1].(map[string]any); p["process_id"] == session["process_id"] {
		t.Errorf("bob shares ann's session plugin %v", p["process_id"])
	}
	bob.WriteText(`{"type":"session_get_state"}`)
	if m := read(bob); m["type"] != "session_state" || m["data"].(map[string]any)["user_id"] != "bob" {
		t.Errorf("bob's session_get_state: %v", m)
	}
	ann2 := dial("ann")
	again := welcome(ann2, "ann", 2)
	if p := again[1].(map[string]any); p["process_id"] != session["process_id"] {
		t.Errorf("ann's second connection found session plugin %v, not %v", p["process_id"], session["process_id"])
	}
	if p := again[0].(map[string]any); p["status"] != "running" {
		t.Errorf("echo_ after its first message: %v", p)
	}

	// Past the limit, and without a user, the central hub refuses.
	refused(dial("ann"), "max_connections_reached")
	refused(dial(""), "missing_user_id")

	// Once ann's connections are gone, the session hears shutdown, and
	// ann may connect again.
	ann1.WriteClose(1000, "")
	ann2.WriteClose(1000, "")
	poll.Until(t, 30*time.Second, "ann's session plugin to hear shutdown", func() bool {
		return strings.Contains(logs.String(), `msg="session shut down" entry=app:session_plugin`)
	})
	ann3 := dial("ann")
	if p := welcome(ann3, "ann", 1)[1].(map[string]any); p["process_id"] != session["process_id"] {
		t.Errorf("ann's hub was replaced: session plugin %v, was %v", p["process_id"], session["process_id"])
	}
}
