package luart_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
)

// process.spawn in a handler records the new PID in the request's
// SpawnLog (the WebSocket relay tells owned targets by it); a failed spawn
// records nothing.
func TestHandlerSpawnsAreRecorded(t *testing.T) {
	e := newEnv(t, nil)
	e.process("app:worker", `return { main = function() process.inbox():receive() end }`)
	h := e.function("app:connect", `local http = require("http")
return { handler = function()
    local a = process.spawn("app:worker", "app:processes")
    local b = process.spawn("worker", "app:processes")
    local c = process.spawn("app:nothing", "app:processes")
    http.response():write(a .. " " .. b)
end }`, "http")
	log := &process.SpawnLog{}
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(process.WithSpawnLog(r.Context(), log))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	for _, s := range strings.Fields(w.Body.String()) {
		p, err := pid.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if !log.Spawned(p) {
			t.Errorf("%v was spawned by the handler but not recorded", p)
		}
		_ = e.node.Terminate(p)
	}
	if log.Spawned(pid.PID{Host: host, ID: 1}) {
		t.Error("a PID the handler did not spawn is recorded")
	}
}
