package luart_test

import (
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/value"
)

// A Lua process cannot take over another process's name: unregistering
// and then registering "app:hub" both fail with an error naming the hub,
// and the hub's clients keep getting its replies.
func TestLuaCannotTakeOverAName(t *testing.T) {
	e := newEnv(t, nil)
	hub := e.process("app:hub_proc", `return { main = function()
    assert(process.registry.register("app:hub"))
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then break end
        process.send(msg:from(), "reply", msg:payload():data())
    end
end }`)
	hubPID := e.spawn(hub)
	client := e.probe()
	ask := func(n int) {
		t.Helper()
		client.Send("app:hub", "ask", value.Int(int64(n)))
		m := client.Next("reply")
		if m.From != hubPID || !value.Equal(m.Payload, value.Int(int64(n))) {
			t.Fatalf("reply %v from %v, want %d from the hub %v", m.Payload, m.From, n, hubPID)
		}
	}
	poll.Until(t, timeout, "the hub to register", func() bool { _, ok := e.node.Lookup("app:hub"); return ok })
	ask(1)

	r := e.run(`local function main(probe_pid)
    local u, uerr = process.registry.unregister("app:hub")
    local r, rerr = process.registry.register("app:hub")
    return {u, uerr, r, rerr}
end
return { main = main }`)
	got := ok(t, r)
	want := `name app:hub is held by ` + hubPID.String()
	for i, k := range []int{0, 2} {
		okv := got.Index(k)
		text, _ := got.Index(k + 1).Text()
		if !value.Equal(okv, value.Bool(false)) || !strings.Contains(text, want) {
			t.Errorf("call %d returned %v, %q; want false and an error saying %q", i+1, okv, text, want)
		}
	}
	ask(2) // the hub still has its name and its clients their replies
}
