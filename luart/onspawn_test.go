package luart_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/pid"
)

type ctxKey struct{}

// process.spawn in a handler tells Options.OnSpawn, with the request's
// context, every PID it started (the WebSocket relay tells owned targets
// by it); a failed spawn tells nothing.
func TestHandlerSpawnsAreTold(t *testing.T) {
	var mu sync.Mutex
	var told []pid.PID
	e := newEnv(t, &luart.Options{OnSpawn: func(ctx context.Context, p pid.PID) bool {
		if ctx.Value(ctxKey{}) != "the request" {
			t.Errorf("OnSpawn got another context than the request's")
		}
		mu.Lock()
		defer mu.Unlock()
		told = append(told, p)
		return true
	}})
	e.process("app:worker", `return { main = function() process.inbox():receive() end }`)
	h := e.function("app:connect", `local http = require("http")
return { handler = function()
    local a = process.spawn("app:worker", "app:processes")
    local b = process.spawn("worker", "app:processes")
    local c = process.spawn("app:nothing", "app:processes")
    http.response():write(a .. " " .. b)
end }`, "http")
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, "the request"))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var spawned []pid.PID
	for _, s := range strings.Fields(w.Body.String()) {
		p, err := pid.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		spawned = append(spawned, p)
		_ = e.node.Terminate(p)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(told, spawned) {
		t.Errorf("OnSpawn was told %v; the handler spawned %v", told, spawned)
	}
}
