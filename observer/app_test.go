package observer_test

import (
	"slices"
	"testing"

	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/observer"
)

// TestOfApp: the views of a running app show its relay connections, and
// each Lua process with what it uses of its budget.
func TestOfApp(t *testing.T) {
	app, _ := apptest.Start(t, "../examples/bench")
	url := "ws://" + apptest.Addr(t, app, "bench:gateway") + "/ws/lua?who=test"
	c, _, err := wsclient.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.WriteText("ping"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadText(); err != nil {
		t.Fatal(err)
	}
	l := observer.OfApp(app)
	conns := l.Connections(observer.Query{})
	if conns.Total != 1 || conns.Rows[0].Path != "/ws/lua?who=test" || conns.Rows[0].State != "open" || conns.Rows[0].FramesIn != 1 || conns.Rows[0].BytesIn != 4 {
		t.Fatalf("connections: %+v", conns)
	}
	// A connection to a named target shows the name.
	shared, _, err := wsclient.Dial("ws://"+apptest.Addr(t, app, "bench:gateway")+"/ws/shared", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	poll.Until(t, timeout, "the shared echo's name on its connection", func() bool {
		p := l.Connections(observer.Query{Q: "/ws/shared"})
		return p.Total == 1 && p.Rows[0].TargetName == "bench:shared_echo"
	})
	var page observer.ProcessPage
	poll.Until(t, timeout, "the echo process with its budget", func() bool {
		page = l.Processes(observer.Query{Q: "bench:echo"})
		return page.Total == 2 && page.Rows[0].Lua != nil && page.Rows[1].Lua != nil && page.Rows[1].Lua.Memory > 0
	})
	// The shared echo and the connection's own.
	for _, r := range page.Rows {
		if r.Kind != "scheduled" || r.Lua.MemoryLimit <= r.Lua.Memory {
			t.Fatalf("an echo process: %+v %+v", r, r.Lua)
		}
	}
	if page = l.Processes(observer.Query{Q: conns.Rows[0].PID}); page.Total != 1 || page.Rows[0].Kind != "connection" || page.Rows[0].Lua != nil {
		t.Fatalf("the connection process: %+v", page)
	}
}

// TestTracePayloadsOnlyForTheAsker: a trace started with payloads (by
// an observer with a token, or another node's over the cluster) keeps
// them for as long as it runs; an observer without a token that reads
// the same trace does not get them.
func TestTracePayloadsOnlyForTheAsker(t *testing.T) {
	app, _ := apptest.Start(t, "../examples/bench")
	c, _, err := wsclient.Dial("ws://"+apptest.Addr(t, app, "bench:gateway")+"/ws/lua", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	withToken, without := observer.OfApp(app), observer.OfApp(app)
	withToken.Payloads = true
	var conn string
	poll.Until(t, timeout, "the connection listed", func() bool {
		p := without.Connections(observer.Query{})
		if p.Total == 1 {
			conn = p.Rows[0].PID
		}
		return conn != ""
	})
	if tv := withToken.Trace(observer.Query{PID: conn, Payloads: true}); tv.Error != "" {
		t.Fatalf("the trace with payloads: %+v", tv)
	}
	if err := c.WriteText("the-secret-frame"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadText(); err != nil {
		t.Fatal(err)
	}
	for _, q := range []observer.Query{{PID: conn}, {PID: conn, Payloads: true}} {
		// The frame in may be traced after the echo out.
		poll.Until(t, timeout, "the frame in traced", func() bool {
			tv := without.Trace(q)
			in := 0
			for _, e := range tv.Events {
				if e.Kind == "in" {
					in++
				}
				if e.Payload != "" {
					t.Fatalf("an observer without a token got a payload (asked %v): %+v", q.Payloads, e)
				}
			}
			return in == 1
		})
	}
	tv := withToken.Trace(observer.Query{PID: conn, Payloads: true})
	if !slices.ContainsFunc(tv.Events, func(e observer.TraceEvent) bool { return e.Payload == "the-secret-frame" }) {
		t.Fatalf("the observer with a token: %+v", tv)
	}
}
