package gateway_test

import (
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
)

// TestSeedsPerConnectionTargetsEnd: the seeds' handler spawns a target
// per connection running the seeds' receive loop verbatim
// (testdata/wsapp/ws/handler.lua); 200 connections opened and closed
// leave no Lua process behind — each target gets ws.leave, then its inbox
// reports closed and the loop ends by itself.
func TestSeedsPerConnectionTargetsEnd(t *testing.T) {
	ta := startAppIn(t, "testdata/wsapp")
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	var cleanups atomic.Int64
	go func() { // the cleanups the targets report on ws.leave
		for {
			select {
			case m := <-ta.probe:
				if m.Topic == "cleanup" {
					cleanups.Add(1)
				}
			case <-stop:
				return
			}
		}
	}()
	url := "ws://" + ta.addr + "/ws/connect"
	origin := http.Header{"Origin": {"https://app.example.com"}}
	h, _ := ta.Node().Host("app:processes")
	base := h.Stats().Live // the test's probe
	const conns = 200
	for i := range conns {
		c, _, err := wsclient.Dial(url, origin)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		c.WriteText(`{"n":1}`)
		if _, err := c.ReadText(); err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		if i%2 == 0 {
			c.WriteClose(1000, "")
			c.ReadClose()
		}
		c.Close()
	}
	poll.Until(t, timeout, "every per-connection target to end", func() bool { return h.Stats().Live == base })
	// Each one handled its ws.leave before its inbox reported closed.
	poll.Until(t, timeout, "a cleanup per connection", func() bool { return cleanups.Load() == conns })
	if s := h.Stats().Spawned; s < conns {
		t.Fatalf("only %d processes were spawned", s)
	}
	r, err := http.Get("http://" + ta.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	for _, want := range []string{`wsrelay_processes{host="app:processes"} 1`, "wsrelay_connections_open 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
