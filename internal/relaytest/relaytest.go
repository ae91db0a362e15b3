// Package relaytest serves a WebSocket relay on 127.0.0.1 in tests.
package relaytest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// shutdownTimeout bounds the relay's shutdown when the test ends.
const shutdownTimeout = 10 * time.Second

// Serve serves the relay rl in front of next on 127.0.0.1 until the test
// ends, when it shuts the relay down and closes the server (before what
// was registered earlier with t.Cleanup, such as the node's shutdown).
// It returns the server and the ws:// URL of its path /ws.
func Serve(t testing.TB, rl *wsrelay.Relay, next http.Handler) (*httptest.Server, string) {
	t.Helper()
	srv := httptest.NewServer(rl.Middleware(next))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		rl.Shutdown(ctx)
		srv.Close()
	})
	return srv, "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
}

// To is a handler that relays every connection to target.
func To(target pid.PID) http.Handler {
	h := `{"target_pid":"` + target.String() + `"}`
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set(wsrelay.HeaderName, h)
	})
}
