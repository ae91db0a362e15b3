package luart_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// TestLuaLookupOfLostNode: a room on node a holds a CONSISTENT name, and
// node a is killed and restarted (a new incarnation, which the others
// admit once the old one was silent for the heartbeat timeout; the new
// one runs without cluster names at first, so the name's release
// waits). Once node b sees the new incarnation, Lua on b finds no process
// under the name and a send to it fails; once the new incarnation has
// released its predecessor's names, b can register the name for a room
// of its own.
func TestLuaLookupOfLostNode(t *testing.T) {
	s := natstest.StartJetStream(t)
	logs, log := testlog.New(slog.LevelInfo)
	join := func(name string, names bool) (*env, *clustertest.Member) {
		opts := clustertest.FastOptions()
		opts.Logger = log
		m := clustertest.Join(t, s.ClientURL(), name, opts)
		e := newEnvWith(t, &process.Options{Name: name, Transport: m.Transport, ClusterNames: m.Names}, &luart.Options{ClusterNames: m.Names})
		m.Start(t, e.node, names)
		return e, m
	}
	a, ma := join("a", true)
	b, mb := join("b", true)
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

	ma.Conn.Close() // killed: no goodbye
	_, ma2 := join("a", false)
	poll.Until(t, timeout, "b sees a's new incarnation", func() bool {
		return strings.Contains(logs.String(), fmt.Sprintf(`msg="cluster: node up" node=a incarnation=%d`, ma2.Transport.Incarnation()))
	})
	got := ok(t, b.run(lookup))
	if p, _ := got.Index(0).Text(); p != "none" || !value.Equal(got.Index(1), value.Bool(false)) {
		t.Fatalf("on b after a restarted: lookup %q, send %v %v; want no process and a failed send", p, got.Index(1), got.Index(2))
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := ma2.Names.Start(ctx); err != nil { // releases the old incarnation's names
		t.Fatal(err)
	}
	poll.Until(t, timeout, "b registers the name for a room of its own", func() bool {
		r := ok(t, b.run(`return { main = function()
    return process.registry.register("room:dev", nil, process.registry.CONSISTENT) or false
end }`))
		return value.Equal(r, value.Bool(true))
	})
}
