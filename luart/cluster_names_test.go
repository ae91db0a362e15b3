package luart_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// newClusterEnv is newEnv for a node named name of the cluster on s, with
// cluster-wide names given to Lua. With start false the names are not
// started (as when JetStream is missing).
func newClusterEnv(t testing.TB, s *server.Server, name string, start bool) (*env, *cluster.Names) {
	t.Helper()
	m := clustertest.Join(t, s.ClientURL(), name, nil)
	// Join's cleanup runs after the node's shutdown (cleanups run last first).
	e := newEnvWith(t, &process.Options{Name: name, Transport: m.Transport, ClusterNames: m.Names},
		&luart.Options{ClusterNames: m.Names})
	m.Start(t, e.node, start)
	return e, m.Names
}

// racer waits for "go", registers its argument cluster-wide, reports to
// the sender of "go" (with what a lookup finds right after), and keeps
// the name until it is cancelled.
const racer = `return { main = function(name)
    local inbox = process.inbox()
    local go = inbox:receive()
    local ok, err = process.registry.register(name, nil, process.registry.CONSISTENT)
    local holder = process.registry.lookup(name)
    process.send(go:from(), "result", {ok = ok, err = err or "", holder = holder or "none"})
    inbox:receive()
end }`

// TestLuaConsistentNameRace: a Lua process on each of two nodes registers
// one CONSISTENT name at the same moment, round after round: exactly one
// wins, the loser's error names the winner, a lookup right after the
// loss finds the winner, and so does a lookup from Lua on either node.
func TestLuaConsistentNameRace(t *testing.T) {
	s := natstest.StartJetStream(t)
	a, _ := newClusterEnv(t, s, "a", true)
	b, namesB := newClusterEnv(t, s, "b", true)
	progA, progB := a.process("app:racer", racer), b.process("app:racer", racer)
	pr := a.probe()
	for round := range 10 {
		name := fmt.Sprintf("room-%d", round)
		pa, pb := a.spawn(progA, name), b.spawn(progB, name)
		pr.Send(pa.String(), "go", value.Nil())
		pr.Send(pb.String(), "go", value.Nil())
		results := map[pid.PID]value.Value{}
		for range 2 {
			m := pr.Next("result")
			results[m.From] = m.Payload
		}
		var winner, loser pid.PID
		for p, r := range results {
			if value.Equal(field(r, "ok"), value.Bool(true)) {
				if !winner.IsZero() {
					t.Fatalf("round %d: both %v and %v registered %s", round, winner, p, name)
				}
				winner = p
			} else {
				loser = p
			}
		}
		if winner.IsZero() || loser.IsZero() {
			t.Fatalf("round %d: results %v, want one winner and one loser", round, results)
		}
		if text, _ := field(results[loser], "err").Text(); !strings.Contains(text, winner.String()) {
			t.Errorf("round %d: the loser's error %q does not name the holder %v", round, text, winner)
		}
		for p, r := range results {
			if h, _ := field(r, "holder").Text(); h != winner.String() {
				t.Errorf("round %d: %v looked the name up right after registering and found %q, want %v", round, p, h, winner)
			}
		}
		poll.Until(t, timeout, "node b sees the winner", func() bool { p, ok := namesB.LookupName(name); return ok && p == winner })
		for _, e := range []*env{a, b} {
			got, _ := ok(t, e.run(`return { main = function() return process.registry.lookup("`+name+`") end }`)).Text()
			if got != winner.String() {
				t.Errorf("round %d: lookup on node %s gave %q, want %v", round, e.node.Name(), got, winner)
			}
		}
	}
}

// field is v's field key (nil when absent).
func field(v value.Value, key string) value.Value {
	f, _ := v.Get(key)
	return f
}

// TestLuaConsistentNameAcrossNodes: a hub on node a holds a CONSISTENT
// name; Lua on node b sends to it by name and gets replies; b cannot
// unregister it (the error names the holder); the hub unregisters it
// itself, after which b's lookup fails and b may take the name; when a
// holder ends, its name is free again for the other node.
func TestLuaConsistentNameAcrossNodes(t *testing.T) {
	s := natstest.StartJetStream(t)
	a, namesA := newClusterEnv(t, s, "a", true)
	b, namesB := newClusterEnv(t, s, "b", true)
	hub := a.process("app:hub", `return { main = function()
    assert(process.registry.register("hub", nil, process.registry.CONSISTENT))
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then break end
        if msg:topic() == "drop" then
            local u, err = process.registry.unregister("hub")
            local p = process.registry.lookup("hub")
            process.send(msg:from(), "dropped", {u = u, err = err or "", after = p or "none"})
            return
        end
        process.send(msg:from(), "reply", msg:payload():data())
    end
end }`)
	hubPID := a.spawn(hub)
	poll.Until(t, timeout, "node b sees the hub's name", func() bool { p, ok := namesB.LookupName("hub"); return ok && p == hubPID })

	got := ok(t, b.run(`return { main = function()
    local p = process.registry.lookup("hub")
    assert(process.send("hub", "ask", 42))
    local msg = process.inbox():receive()
    local u, uerr = process.registry.unregister("hub")
    local r, rerr = process.registry.register("hub", nil, process.registry.CONSISTENT)
    return {p, msg:from(), msg:payload():data(), u, uerr, r, rerr}
end }`))
	if s, _ := got.Index(0).Text(); s != hubPID.String() {
		t.Errorf("lookup on b: %q, want the hub %v", s, hubPID)
	}
	if s, _ := got.Index(1).Text(); s != hubPID.String() || !value.Equal(got.Index(2), value.Int(42)) {
		t.Errorf("reply %v from %v, want 42 from the hub %v", got.Index(2), got.Index(1), hubPID)
	}
	for i, k := range []int{3, 5} {
		text, _ := got.Index(k + 1).Text()
		if !value.Equal(got.Index(k), value.Bool(false)) || !strings.Contains(text, hubPID.String()) {
			t.Errorf("%s from b returned %v, %q; want false and an error naming the hub %v",
				[]string{"unregister", "register"}[i], got.Index(k), text, hubPID)
		}
	}

	pr := a.probe()
	pr.Send("hub", "drop", value.Nil())
	d := pr.Next("dropped").Payload
	if !value.Equal(field(d, "u"), value.Bool(true)) || !value.Equal(field(d, "after"), value.String("none")) {
		t.Fatalf("the hub's unregister: %v; want true, and no name after it", d)
	}
	if _, ok := namesA.LookupName("hub"); ok {
		t.Error("node a still has the name after its holder unregistered it")
	}
	poll.Until(t, timeout, "node b sees the name released", func() bool { _, ok := namesB.LookupName("hub"); return !ok })

	// Node b takes the name; when its holder ends, node a can have it.
	holder := b.process("app:holder", `return { main = function()
    assert(process.registry.register("hub", nil, process.registry.CONSISTENT))
    process.inbox():receive()
end }`)
	hp := b.spawn(holder)
	poll.Until(t, timeout, "node a sees b's holder", func() bool { p, ok := namesA.LookupName("hub"); return ok && p == hp })
	if err := b.node.Terminate(hp); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "node a sees the name released", func() bool { _, ok := namesA.LookupName("hub"); return !ok })
	r := ok(t, a.run(`return { main = function()
    return {process.registry.register("hub", nil, process.registry.CONSISTENT)}
end }`))
	if !value.Equal(r.Index(0), value.Bool(true)) {
		t.Errorf("registering the released name on a: %v", r)
	}
}

// TestLuaNamesCannotShadow: a CONSISTENT name cannot take over a name a
// process of this node holds (lookups would find the cluster one first),
// and a LOCAL name cannot be registered while another process holds it
// cluster-wide; both errors name the holder.
func TestLuaNamesCannotShadow(t *testing.T) {
	s := natstest.StartJetStream(t)
	a, namesA := newClusterEnv(t, s, "a", true)
	b, _ := newClusterEnv(t, s, "b", true)
	hold := `return { main = function(name, scope)
    assert(process.registry.register(name, nil, scope))
    process.inbox():receive()
end }`
	localHolder := a.spawn(a.process("app:hold", hold), "lobby", "local")
	poll.Until(t, timeout, "the local holder registers", func() bool { _, ok := a.node.Lookup("lobby"); return ok })
	clusterHolder := b.spawn(b.process("app:hold", hold), "hall", "consistent")
	poll.Until(t, timeout, "node a sees the cluster holder", func() bool { _, ok := namesA.LookupName("hall"); return ok })

	got := ok(t, a.run(`return { main = function()
    local c, cerr = process.registry.register("lobby", nil, process.registry.CONSISTENT)
    local l, lerr = process.registry.register("hall")
    return {c, cerr, l, lerr, process.registry.lookup("lobby"), process.registry.lookup("hall")}
end }`))
	for i, want := range []pid.PID{localHolder, clusterHolder} {
		text, _ := got.Index(2*i + 1).Text()
		if !value.Equal(got.Index(2*i), value.Bool(false)) || !strings.Contains(text, want.String()) {
			t.Errorf("register %d: %v, %q; want false and an error naming %v", i, got.Index(2*i), text, want)
		}
		if p, _ := got.Index(4 + i).Text(); p != want.String() {
			t.Errorf("lookup %d after the refusal: %q, want %v", i, p, want)
		}
	}
	if _, ok := namesA.LookupName("lobby"); ok {
		t.Error("the refused CONSISTENT registration is in the cluster table")
	}
}

// TestLuaConsistentWithoutNames: on a node of a cluster whose names are
// not running (no JetStream), CONSISTENT fails with an error saying so,
// and the name is not left registered locally either.
func TestLuaConsistentWithoutNames(t *testing.T) {
	s := natstest.StartJetStream(t)
	a, _ := newClusterEnv(t, s, "a", false)
	got := ok(t, a.run(`return { main = function()
    local r, err = process.registry.register("room", nil, process.registry.CONSISTENT)
    return {r, err, process.registry.lookup("room") or "none"}
end }`))
	text, _ := got.Index(1).Text()
	if !value.Equal(got.Index(0), value.Bool(false)) || !strings.Contains(text, "cluster-wide names are not running") {
		t.Errorf("register: %v, %q; want false and an error saying cluster-wide names are not running", got.Index(0), text)
	}
	if !value.Equal(got.Index(2), value.String("none")) {
		t.Errorf("the name resolves to %v after the failed registration", got.Index(2))
	}
}

// TestLuaRegistryScopesAlone: on a node without a cluster, CONSISTENT
// names are the node's own (the node is the whole cluster): first
// registration wins, lookups find it, only the holder unregisters; an
// unknown scope is an error naming the two scopes.
func TestLuaRegistryScopesAlone(t *testing.T) {
	e := newEnv(t, nil)
	holder := e.spawn(e.process("app:hold", `return { main = function()
    assert(process.registry.register("room", nil, process.registry.CONSISTENT))
    process.inbox():receive()
end }`))
	poll.Until(t, timeout, "the holder registers", func() bool { _, ok := e.node.Lookup("room"); return ok })
	got := ok(t, e.run(`return { main = function()
    local r, rerr = process.registry.register("room", nil, process.registry.CONSISTENT)
    local u, uerr = process.registry.unregister("room")
    local bad = {pcall(process.registry.register, "x", nil, "global")}
    return {r, rerr, u, uerr, process.registry.lookup("room"), bad[2],
        process.registry.LOCAL, process.registry.CONSISTENT}
end }`))
	for _, k := range []int{0, 2} {
		text, _ := got.Index(k + 1).Text()
		if !value.Equal(got.Index(k), value.Bool(false)) || !strings.Contains(text, holder.String()) {
			t.Errorf("call %d: %v, %q; want false and an error naming %v", k, got.Index(k), text, holder)
		}
	}
	if p, _ := got.Index(4).Text(); p != holder.String() {
		t.Errorf("lookup: %q, want %v", p, holder)
	}
	if text, _ := got.Index(5).Text(); !strings.Contains(text, "scope") || !strings.Contains(text, "process.registry.CONSISTENT") {
		t.Errorf("an unknown scope raised %q; want an error naming the scopes", text)
	}
	if l, _ := got.Index(6).Text(); l != "local" {
		t.Errorf("process.registry.LOCAL = %q", l)
	}
	if c, _ := got.Index(7).Text(); c != "consistent" {
		t.Errorf("process.registry.CONSISTENT = %q", c)
	}
}
