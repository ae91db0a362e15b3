package luart_test

import (
	"context"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/pg"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// newPGEnv is newEnv with process groups: one scope, app:pg.
func newPGEnv(t *testing.T, opts pg.ScopeOptions) (*env, *pg.Scope) {
	t.Helper()
	node, err := process.NewNode(&process.Options{Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.AddHost(host, &process.HostOptions{CancelGrace: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	svc, err := pg.New(pg.Options{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := svc.AddScope("app:pg", opts)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := luart.New(luart.Options{Node: node, Groups: svc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		svc.Close()
		if err := node.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return &env{t: t, node: node, rt: rt}, sc
}

// TestPGModule runs the calls of the original runtime's pg pages in one
// process: their results, events and errors.
func TestPGModule(t *testing.T) {
	t.Parallel()
	e, _ := newPGEnv(t, pg.ScopeOptions{})
	r := e.run(`
local pg = require("pg")
function main(probe)
  local none, err = pg.open("app:nope")
  assert(none == nil and err:find("unknown process%-group scope"), err)
  local g, err = pg.open("app:pg")
  assert(g and err == nil, err)
  local sub, members, err = g:monitor("room")
  assert(sub and #members == 0 and err == nil, err)
  assert(g:join({"room", "all"}) == true)
  assert(g:join("room") == true)
  local ms = g:get_members("room")
  assert(#ms == 2 and ms[1] == process.pid() and ms[2] == process.pid(), #ms)
  assert(#g:get_local_members("all") == 1)
  local ch = sub:channel()
  for i = 1, 2 do
    local ev, ok = ch:receive()
    assert(ok and ev.system == "pg" and ev.kind == "member.joined" and ev.path == "room", ev.kind)
    assert(ev.data.Group == "room" and ev.data.PIDs[1] == process.pid())
  end
  local gs = g:which_groups()
  assert(#gs == 2 and gs[1] == "all" and gs[2] == "room")
  assert(#g:which_local_groups() == 2)
  local all, snap = g:events()
  assert(#snap.room == 2 and #snap.all == 1)
  assert(g:broadcast("room", "news", {n = 1}) == true)
  assert(g:broadcast_local("room", "news", {n = 2}) == true)
  local inbox = process.inbox()
  for i = 1, 2 do
    local m = inbox:receive()
    assert(m:topic() == "news" and m:payload():data().n == i and m:from() == process.pid())
  end
  assert(g:leave({"room", "nope"}) == true)
  local ok, err = g:leave("nope")
  assert(ok == false and err:find("not a member"), err)
  ok, err = g:join("")
  assert(ok == false and err:find("empty"), err)
  ok, err = g:join({})
  assert(ok == false and err:find("empty"), err)
  ok, err = g:broadcast("room", "@x")
  assert(ok == false and err:find("@"), err)
  local ev = all:channel():receive()
  assert(ev.kind == "member.left" and ev.path == "room")
  sub:close()
  local v, got = ch:receive()
  assert(v == nil and got == false)
  assert(g:release() == true and g:release() == true)
  ok, err = g:join("x")
  assert(ok == false and err:find("released"), err)
  local v, got = all:channel():receive()
  assert(got == false, "release closes the subscriptions")
  return "done"
end`, "pg")
	if v, _ := ok(t, r).Text(); v != "done" {
		t.Fatalf("result %v", v)
	}
}

// A Lua process's memberships and subscriptions end with it; a relay
// client's PID (any local PID) can be joined by another process.
func TestPGProcessEndLeaves(t *testing.T) {
	t.Parallel()
	e, sc := newPGEnv(t, pg.ScopeOptions{})
	client := proctest.Spawn(t, e.node, host, nil)
	prog := e.process("test:pgmember", `
local pg = require("pg")
function main(client)
  local g = assert(pg.open("app:pg"))
  assert(g:join("room"))
  assert(g:join("room", client))
  local sub = assert(g:monitor("room"))
  assert(g:broadcast("room", "ws.send", "hello"))
  process.inbox():receive() -- its own copy; then waits to be told to end
  process.inbox():receive()
end`, "pg")
	id := e.spawn(prog, client.PID.String())
	if m := client.Next("ws.send"); m.Payload.String() != `"hello"` {
		t.Fatalf("the client got %v", m.Payload)
	}
	if n := sc.Subscriptions(); n != 1 {
		t.Fatalf("%d subscriptions open, want the process's one", n)
	}
	if got := sc.Members("room"); !slices.Contains(got, id) || !slices.Contains(got, client.PID) {
		t.Fatalf("members %v", got)
	}
	if err := e.node.Send(pid.PID{}, id, "end", value.Nil()); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "the ended process left", func() bool {
		got := sc.Members("room")
		return len(got) == 1 && got[0] == client.PID
	})
	poll.Until(t, timeout, "its subscription closed", func() bool { return sc.Subscriptions() == 0 })
}

// A subscription's buffer is bounded: past it the channel gives an
// overflow event, then ends.
func TestPGSubscriptionOverflow(t *testing.T) {
	t.Parallel()
	e, _ := newPGEnv(t, pg.ScopeOptions{MonitorBuffer: 3})
	r := e.run(`
local pg = require("pg")
function main()
  local g = assert(pg.open("app:pg"))
  local sub = assert(g:monitor("room"))
  for i = 1, 5 do assert(g:join("room")) end
  local ch, kinds = sub:channel(), {}
  while true do
    local ev, ok = ch:receive()
    if not ok then break end
    kinds[#kinds + 1] = ev.kind
  end
  return table.concat(kinds, ",")
end`, "pg")
	if v, _ := ok(t, r).Text(); v != "member.joined,member.joined,member.joined,overflow" {
		t.Fatalf("events %v", v)
	}
}

// TestPGWaitsHoldNoGoroutine: Lua processes waiting on a pg
// subscription's channel, alone or in a select, hold no goroutine each,
// and a change of the group wakes every one of them.
func TestPGWaitsHoldNoGoroutine(t *testing.T) {
	const count = 2000
	e, sc := newPGEnv(t, pg.ScopeOptions{})
	pr := e.countingProbe("ready", "done")
	p := e.process("pg:waiter", `
local pg = require("pg")
function main(probe, kind)
  local g = assert(pg.open("app:pg"))
  local sub = assert(g:monitor("room"))
  process.send(probe, "ready", kind)
  local ev
  if kind == 0 then
    ev = sub:channel():receive()
  else
    local r = channel.select{process.inbox():case_receive(), sub:channel():case_receive()}
    ev = r.value
  end
  process.send(probe, "done", ev.kind)
end`, "pg")
	before := runtime.NumGoroutine()
	for i := range count {
		e.spawn(p, pr.PID.String(), i%2)
	}
	poll.Until(t, 2*proctest.Timeout, "every process subscribed", func() bool { return pr.count("ready") == count })
	poll.Until(t, 2*proctest.Timeout, "the waiting processes to give back their goroutines", func() bool {
		return runtime.NumGoroutine()-before < count/100
	})
	member := proctest.Spawn(t, e.node, host, func(*process.Process, process.Message) {})
	if err := sc.Join(member.PID, "room"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, 2*proctest.Timeout, "every process woke", func() bool { return pr.count("done") == count })
}
