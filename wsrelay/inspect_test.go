package wsrelay_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// TestEachConnection: an observer sees a connection with its path and
// query, origin, target, state and frames each way.
func TestEachConnection(t *testing.T) {
	e := newEnv(t, wsrelay.Options{AllowedOrigins: "*"})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	c := e.dial(t, http.Header{"Origin": {"https://app.example"}})
	client := mustPID(str(tg.Next("ws.join"), "client_pid"))
	if err := c.WriteText("hi"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadText(); err != nil {
		t.Fatal(err)
	}
	var got []wsrelay.ConnInfo
	poll.Until(t, timeout, "the connection with its counts", func() bool {
		got = got[:0]
		e.rl.EachConnection(func(ci wsrelay.ConnInfo) bool { got = append(got, ci); return true })
		return len(got) == 1 && got[0].FramesOut == 1
	})
	ci := got[0]
	if ci.PID != client || ci.Target != tg.PID || ci.State != "open" || ci.Origin != "https://app.example" ||
		!strings.HasPrefix(ci.Path, "/") || ci.FramesIn != 1 || ci.BytesIn != 2 || ci.BytesOut != 2 || ci.Remote == "" || ci.Opened.IsZero() {
		t.Fatalf("%+v", ci)
	}
	c.WriteClose(1000, "bye")
	poll.Until(t, timeout, "no connection left", func() bool {
		n := 0
		e.rl.EachConnection(func(wsrelay.ConnInfo) bool { n++; return true })
		return n == 0
	})
}

// TestTrace: a traced connection's frames each way, with their first
// bytes when asked for, its transfer and its close, in order after what
// the reader saw; a relay traces at most MaxTraces connections; a
// connection that is not there is said so.
func TestTrace(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client := mustPID(str(tg.Next("ws.join"), "client_pid"))
	if _, ok, err := e.rl.Trace(client, 0, true); !ok || err != nil {
		t.Fatalf("start: %v %v", ok, err)
	}
	long := strings.Repeat("x", 300)
	for _, m := range []string{"hello", long} {
		if err := c.WriteText(m); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ReadText(); err != nil {
			t.Fatal(err)
		}
	}
	var r wsrelay.TraceResult
	poll.Until(t, timeout, "four frames traced", func() bool {
		r, _, _ = e.rl.Trace(client, 0, true)
		return len(r.Events) == 4
	})
	want := []struct {
		kind    string
		size    int
		payload string
	}{{"in", 5, "hello"}, {"out", 5, "hello"}, {"in", 300, long[:wsrelay.TracePayload]}, {"out", 300, long[:wsrelay.TracePayload]}}
	for i, w := range want {
		if ev := r.Events[i]; ev.Kind != w.kind || ev.Size != w.size || ev.Payload != w.payload || ev.Type != "text" || ev.Seq != uint64(i+1) {
			t.Fatalf("event %d: %+v, want %+v", i, ev, w)
		}
	}
	if r2, _, _ := e.rl.Trace(client, 3, true); len(r2.Events) != 1 || r2.Events[0].Seq != 4 {
		t.Fatalf("after seq 3: %+v", r2.Events)
	}
	other := e.target(false)
	tg.Send(client.String(), "ws.control", value.Map(value.Field{Key: "target_pid", Value: value.String(other.PID.String())}))
	other.Next("ws.join")
	tg.Send(client.String(), "ws.close", value.Map(value.Field{Key: "code", Value: value.Int(4000)}, value.Field{Key: "reason", Value: value.String("done")}))
	poll.Until(t, timeout, "the control, the join, the leave and the close traced", func() bool {
		r, _, _ = e.rl.Trace(client, 4, false)
		var kinds []string
		for _, ev := range r.Events {
			kinds = append(kinds, ev.Kind)
		}
		k := strings.Join(kinds, " ")
		return strings.Contains(k, "control") && strings.Contains(k, "join") && strings.Contains(k, "close") && r.Ended
	})
	if _, ok, _ := e.rl.Trace(tg.PID, 0, false); ok {
		t.Fatal("a process that is not a connection was traced")
	}
}

// TestTraceBounds: at most MaxTraces connections are traced at once, and
// a trace keeps at most TraceRate events a second, counting the rest.
func TestTraceBounds(t *testing.T) {
	e := newEnv(t, wsrelay.Options{MaxFrameRate: -1})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	var first *wsclient.Client
	var firstPID pid.PID
	traced := map[pid.PID]bool{}
	for i := range wsrelay.MaxTraces + 1 {
		c := e.dial(t, nil)
		client := mustPID(str(tg.Next("ws.join"), "client_pid"))
		_, ok, err := e.rl.Trace(client, 0, false)
		if i < wsrelay.MaxTraces && (err != nil || !ok) {
			t.Fatalf("trace %d: %v %v", i, ok, err)
		}
		if i == wsrelay.MaxTraces && err != wsrelay.ErrTooManyTraces {
			t.Fatalf("trace %d: %v, want ErrTooManyTraces", i, err)
		}
		if i == 0 {
			first, firstPID = c, client
		}
		if err == nil {
			traced[client] = true
		}
	}
	// A traced connection that ends gives its place to another.
	last := e.dial(t, nil)
	lastPID := mustPID(str(tg.Next("ws.join"), "client_pid"))
	for p := range traced {
		if p != firstPID {
			tg.Send(p.String(), "ws.close", value.String("make room"))
			break
		}
	}
	poll.Until(t, timeout, "a place for one more trace", func() bool {
		_, ok, err := e.rl.Trace(lastPID, 0, false)
		return ok && err == nil
	})
	_ = last
	n := 3 * wsrelay.TraceRate
	for range n {
		if err := first.WriteText("x"); err != nil {
			t.Fatal(err)
		}
	}
	var r wsrelay.TraceResult
	poll.Until(t, timeout, "every frame traced or dropped", func() bool {
		r, _, _ = e.rl.Trace(firstPID, 0, false)
		return len(r.Events) > 0 && r.Events[len(r.Events)-1].Seq == uint64(n) || r.Dropped > 0 && uint64(len(r.Events))+r.Dropped >= uint64(min(n, wsrelay.TraceEvents))
	})
	// What is kept is bounded by the ring, whatever the rate.
	if len(r.Events) > wsrelay.TraceEvents {
		t.Fatalf("%d events kept, more than the ring", len(r.Events))
	}
}

// TestIdleTracesGiveTheirPlaces: traces of connections that stay idle,
// and that nobody asks for any more, give their places to a new trace
// once TraceIdle has passed (an idle connection records no event that
// would stop its trace).
func TestIdleTracesGiveTheirPlaces(t *testing.T) {
	t.Parallel()
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	var clients []pid.PID
	for range wsrelay.MaxTraces + 1 {
		e.dial(t, nil)
		clients = append(clients, mustPID(str(tg.Next("ws.join"), "client_pid")))
	}
	for i, c := range clients[:wsrelay.MaxTraces] {
		if _, ok, err := e.rl.Trace(c, 0, false); !ok || err != nil {
			t.Fatalf("trace %d: %v %v", i, ok, err)
		}
	}
	last := clients[wsrelay.MaxTraces]
	if _, _, err := e.rl.Trace(last, 0, false); err != wsrelay.ErrTooManyTraces {
		t.Fatalf("one trace past the most: %v, want ErrTooManyTraces", err)
	}
	poll.Until(t, 3*wsrelay.TraceIdle, "an idle trace to give its place", func() bool {
		_, ok, err := e.rl.Trace(last, 0, false)
		return ok && err == nil
	})
}
