package luart_test

import (
	"testing"

	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// TestLuaLookupOfLostNode: a room on node a holds a CONSISTENT name, and
// node a stops without a goodbye. Once node b sees it down, Lua on b
// finds no process under the name and a send to it fails, and once the
// name is released b can register it for a room of its own.
func TestLuaLookupOfLostNode(t *testing.T) {
	s := natstest.StartJetStream(t)
	ma := clustertest.Join(t, s.ClientURL(), "a", nil)
	a := newEnvWith(t, &process.Options{Name: "a", Transport: ma.Transport, ClusterNames: ma.Names}, &luart.Options{ClusterNames: ma.Names})
	ma.Start(t, a.node, true)
	mb := clustertest.Join(t, s.ClientURL(), "b", nil)
	b := newEnvWith(t, &process.Options{Name: "b", Transport: mb.Transport, ClusterNames: mb.Names}, &luart.Options{ClusterNames: mb.Names})
	mb.Start(t, b.node, true)
	poll.Until(t, timeout, "the nodes see each other", func() bool {
		return len(ma.Transport.Peers()) == 1 && len(mb.Transport.Peers()) == 1
	})
	room := a.spawn(a.process("app:room", `return { main = function()
    assert(process.registry.register("room:dev", nil, process.registry.CONSISTENT))
    process.inbox():receive()
end }`))
	lookup := `return { main = function()
    local p = process.registry.lookup("room:dev")
    local sent, err = process.send("room:dev", "join", 1)
    return {p or "none", sent or false, err or ""}
end }`
	poll.Until(t, timeout, "b finds the room", func() bool {
		got, _ := ok(t, b.run(lookup)).Index(0).Text()
		return got == room.String()
	})

	ma.Conn.Close() // no goodbye: b notices the silence
	poll.Until(t, timeout, "b sees a down", func() bool { return len(mb.Transport.Peers()) == 0 })
	got := ok(t, b.run(lookup))
	if p, _ := got.Index(0).Text(); p != "none" || !value.Equal(got.Index(1), value.Bool(false)) {
		t.Fatalf("on b after a was lost: lookup %q, send %v %v; want no process and a failed send", p, got.Index(1), got.Index(2))
	}
	poll.Until(t, timeout, "b registers the name for a room of its own", func() bool {
		r := ok(t, b.run(`return { main = function()
    return process.registry.register("room:dev", nil, process.registry.CONSISTENT) or false
end }`))
		return value.Equal(r, value.Bool(true))
	})
}
