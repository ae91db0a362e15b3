package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/pid"
)

// TestSeedsRelayApp: the seed documents' router YAML, handler and receive
// loop, served by the gateway, with a real WebSocket client.
func TestSeedsRelayApp(t *testing.T) {
	ta := startAppIn(t, "testdata/wsapp")
	url := "ws://" + ta.addr + "/ws/connect"
	origin := http.Header{"Origin": {"https://app.example.com"}}
	for _, query := range []string{"?user_id=42", ""} {
		c, resp, err := wsclient.Dial(url+query, origin)
		if err != nil {
			t.Fatalf("dial %s: %v %+v", query, err, resp)
		}
		if resp.Header.Get("X-WS-Relay") != "" {
			t.Error("the relay header reached the client")
		}
		c.WriteText(`{"say":"hi"}`)
		got, err := c.ReadText()
		if err != nil || got != `{"echo":{"say":"hi"}}` {
			t.Fatalf("echo: %q %v", got, err)
		}
		c.WriteClose(1000, "bye")
		if code, _, _ := c.ReadClose(); code != 1000 {
			t.Errorf("close %d", code)
		}
		select {
		case m := <-ta.probe:
			client, _ := m.Payload.Text()
			if _, err := pid.Parse(client); m.Topic != "cleanup" || err != nil {
				t.Errorf("probe got %s %v", m.Topic, m.Payload)
			}
		case <-time.After(timeout):
			t.Fatal("cleanup was not called after the client left")
		}
		c.Close()
	}
	// Another origin is refused before the handler runs.
	_, resp, err := wsclient.Dial(url, http.Header{"Origin": {"https://evil.example.com"}})
	if err == nil || resp.Status != 403 {
		t.Errorf("foreign origin: %v %+v", err, resp)
	}

	// The metrics saw both connections.
	r, err := http.Get("http://" + ta.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, want := range []string{
		"wsrelay_connections_open 0",
		`wsrelay_connections_closed_total{reason="client_closed"} 2`,
		`wsrelay_frames_total{direction="in"} 2`,
		`wsrelay_frames_total{direction="out"} 2`,
		`wsrelay_frame_bytes_total{direction="in"} 24`,
		// Two upgrades; the refused origin never reached the handler.
		`wsrelay_http_handler_seconds_count{endpoint="app:connect"} 2`,
		`wsrelay_processes{host="wsrelay"}`,
		`wsrelay_processes_spawned_total{host="app:processes"}`,
		`wsrelay_mailbox_dropped_total{host="app:processes"} 0`,
		`wsrelay_read_pauses_total{cause="outbound_queue"} 0`,
		`wsrelay_read_pauses_total{cause="target_mailbox"} 0`,
		"wsrelay_outbound_bytes 0", // nothing waits for the clients that left
		"wsrelay_dead_letters_total",
		"go_goroutines",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
