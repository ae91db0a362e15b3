package wsrelay_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

func TestJoinMessagesLeave(t *testing.T) { eachTopology(t, testJoinMessagesLeave) }

func testJoinMessagesLeave(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{}, topo)
	tg := e.target(false)
	e.relayTo(tg.PID, `"message_topic":"chat.in","metadata":{"user":"ada","room":7}`)
	c, resp, err := wsclient.Dial(e.url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if resp.Header.Get("X-WS-Relay") != "" {
		t.Error("the X-WS-Relay header reached the client")
	}
	join := tg.Next("ws.join")
	client := str(join, "client_pid")
	clientPID, err := pid.Parse(client)
	if err != nil || clientPID.Host != wsrelay.DefaultHost || !e.node.Alive(clientPID) {
		t.Fatalf("client_pid %q is not a live process: %v", client, err)
	}
	wantMeta := value.MustOf(map[string]any{"user": "ada", "room": 7})
	if m, _ := join.Payload.Get("metadata"); !value.Equal(m, wantMeta) || join.From != clientPID {
		t.Errorf("ws.join %v from %v", join.Payload, join.From)
	}

	c.WriteText("hello")
	c.WriteBinary([]byte{0, 1, 255})
	m := tg.Next("chat.in")
	if str(m, "type") != "text" || str(m, "data") != "hello" || str(m, "client_pid") != client {
		t.Errorf("text frame: %v", m.Payload)
	}
	if md, _ := m.Payload.Get("metadata"); !value.Equal(md, wantMeta) {
		t.Errorf("metadata on the frame: %v", m.Payload)
	}
	m = tg.Next("chat.in")
	if d, _ := m.Payload.Get("data"); str(m, "type") != "binary" || d.Kind() != value.KindBytes || string(field(m, "data").([]byte)) != "\x00\x01\xff" {
		t.Errorf("binary frame: %v", m.Payload)
	}

	c.WriteClose(1000, "bye")
	if code, _, err := c.ReadClose(); err != nil || code != 1000 {
		t.Errorf("close echo: %d %v", code, err)
	}
	leave := tg.Next("ws.leave")
	if str(leave, "reason") != "client_closed" || field(leave, "code") != int64(1000) || str(leave, "client_pid") != client {
		t.Errorf("ws.leave %v", leave.Payload)
	}
	if md, _ := leave.Payload.Get("metadata"); !value.Equal(md, wantMeta) {
		t.Errorf("metadata on ws.leave: %v", leave.Payload)
	}
	e.waitExit(clientPID)
}

func TestPassThroughAndDefaults(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	resp, err := http.Get(e.srv.URL + "/plain")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Handler") != "yes" {
		t.Errorf("a response without the header passes through: %d %v", resp.StatusCode, resp.Header)
	}
	// Defaults: topic ws.message, metadata {} when absent, null or [].
	tg := e.target(false)
	for _, meta := range []string{``, `"metadata":null`, `"metadata":[]`, `"metadata":{}`} {
		e.relayTo(tg.PID, meta)
		c := e.dial(t, nil)
		join := tg.Next("ws.join")
		if md, ok := join.Payload.Get("metadata"); !ok || md.Kind() != value.KindMap || md.Len() != 0 {
			t.Errorf("metadata %q: ws.join has %v", meta, join.Payload)
		}
		c.WriteText("x")
		tg.Next("ws.message")
		c.WriteClose(1000, "")
		tg.Next("ws.leave")
	}
}

func TestHeartbeat(t *testing.T) { eachTopology(t, testHeartbeat) }

func testHeartbeat(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{}, topo)
	beating, quiet := e.target(false), e.target(false)
	e.relayTo(beating.PID, `"heartbeat_interval":"30ms","metadata":{"k":"v"}`)
	a := e.dial(t, nil)
	beating.Next("ws.join")
	e.relayTo(quiet.PID, ``)
	b := e.dial(t, nil)
	quiet.Next("ws.join")
	a.WriteText("one")
	a.WriteText("two")
	// Heartbeats made before the frames may come first (every 30 ms, on
	// a loaded machine); the first after both counts both.
	for got := 0; got < 2; {
		switch m := beating.Recv(); m.Topic {
		case "ws.message":
			got++
		case "ws.heartbeat":
			if n, _ := field(m, "message_count").(int64); n < int64(got) || n > 2 {
				t.Errorf("a heartbeat after %d of 2 messages counts %v", got, n)
			}
		default:
			t.Fatalf("the target got %s %v", m.Topic, m.Payload)
		}
	}
	hb := beating.Next("ws.heartbeat")
	if field(hb, "message_count") != int64(2) || !strings.HasSuffix(str(hb, "uptime"), "s") || str(hb, "client_pid") == "" {
		t.Errorf("ws.heartbeat %v", hb.Payload)
	}
	if md, _ := hb.Payload.Get("metadata"); str(process.Message{Payload: md}, "k") != "v" {
		t.Errorf("heartbeat metadata: %v", hb.Payload)
	}
	beating.Next("ws.heartbeat")
	// In the same time, the connection without heartbeat_interval sent none.
	b.WriteText("x")
	quiet.Next("ws.message")
}

func TestSendToClient(t *testing.T) { eachTopology(t, testSendToClient) }

func testSendToClient(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{}, topo)
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client := str(tg.Next("ws.join"), "client_pid")
	for _, tc := range []struct {
		topic   string
		payload any
		op      byte
		want    string
	}{
		{"ws.send", map[string]any{"type": "text", "data": "hello"}, wsclient.OpText, "hello"},
		{"ws.send", map[string]any{"data": "default text"}, wsclient.OpText, "default text"},
		{"ws.send", map[string]any{"type": "binary", "data": []byte{1, 2, 3}}, wsclient.OpBinary, "\x01\x02\x03"},
		{"ws.send", map[string]any{"type": "text", "data": map[string]any{"event": "update", "value": 42}}, wsclient.OpText, `{"event":"update","value":42}`},
		{"ws.send", "a plain string", wsclient.OpText, "a plain string"},
		{"chat.update", map[string]any{"n": 1}, wsclient.OpText, `{"topic":"chat.update","data":{"n":1}}`},
		{"custom", "x", wsclient.OpText, `{"topic":"custom","data":"x"}`},
	} {
		tg.Send(client, tc.topic, value.MustOf(tc.payload))
		op, data, err := c.ReadMessage()
		if err != nil || op != tc.op || string(data) != tc.want {
			t.Errorf("%s %v: got op %d %q (%v), want op %d %q", tc.topic, tc.payload, op, data, err, tc.op, tc.want)
		}
	}
	// Payloads the relay cannot use are logged, not sent, and do not close.
	tg.Send(client, "ws.send", value.MustOf(map[string]any{"type": "video", "data": "x"}))
	tg.Send(client, "ws.send", value.MustOf(map[string]any{"type": "text"}))
	tg.Send(client, "ws.send", value.MustOf(map[string]any{"type": "text", "data": value.BytesString("\xff")}))
	tg.Send(client, "ws.send", value.MustOf(map[string]any{"data": "still open"}))
	if s, err := c.ReadText(); err != nil || s != "still open" {
		t.Errorf("after bad payloads: %q %v", s, err)
	}
	for _, want := range []string{`type must be \"text\" or \"binary\"`, "data is missing", "not valid UTF-8"} {
		if !strings.Contains(e.logs.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestCloseFromServer(t *testing.T) { eachTopology(t, testCloseFromServer) }

func testCloseFromServer(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{}, topo)
	tg := e.target(false)
	e.relayTo(tg.PID, `"metadata":{"u":1}`)
	long := strings.Repeat("é", 100) // 200 bytes
	for _, tc := range []struct {
		payload    any
		code       int
		reasonWant string
	}{
		{map[string]any{"code": 1000, "reason": "Session ended"}, 1000, "Session ended"},
		{map[string]any{"code": 4001, "reason": "kicked"}, 4001, "kicked"},
		{nil, 1000, ""},
		{map[string]any{"code": 1005}, 1000, ""},                    // may not be sent: becomes 1000
		{map[string]any{"code": 1006, "reason": "x"}, 1000, "x"},    // likewise
		{map[string]any{"code": 999}, 1000, ""},                     // below 1000
		{map[string]any{"code": 1000, "reason": long}, 1000, "cut"}, // cut at a UTF-8 boundary
	} {
		c := e.dial(t, nil)
		client := str(tg.Next("ws.join"), "client_pid")
		tg.Send(client, "ws.close", value.MustOf(tc.payload))
		code, reason, err := c.ReadClose()
		if err != nil || code != tc.code {
			t.Errorf("ws.close %v: close frame %d %q %v, want %d", tc.payload, code, reason, err, tc.code)
		}
		if tc.reasonWant == "cut" {
			if len(reason) > 123 || !utf8.ValidString(reason) || !strings.HasPrefix(long, reason) || len(reason) < 120 {
				t.Errorf("long reason cut to %d bytes %q", len(reason), reason)
			}
		} else if reason != tc.reasonWant {
			t.Errorf("reason %q, want %q", reason, tc.reasonWant)
		}
		leave := tg.Next("ws.leave")
		if str(leave, "reason") != "server_closed" || field(leave, "code") != int64(tc.code) {
			t.Errorf("ws.leave %v", leave.Payload)
		}
	}
	if !strings.Contains(e.logs.String(), "that close code may not be sent") {
		t.Error("an unsendable code is not logged")
	}
}

func TestTargetExit(t *testing.T) { eachTopology(t, testTargetExit) }

func testTargetExit(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{}, topo)
	for _, tc := range []struct {
		err    error
		code   int
		reason string
	}{
		{nil, 1000, "target exited"},
		{errors.New("boom"), 1011, "target failed"},
	} {
		tg := e.target(false)
		e.relayTo(tg.PID, "")
		c := e.dial(t, nil)
		client, _ := pid.Parse(str(tg.Next("ws.join"), "client_pid"))
		dead := e.deadLetters()
		tg.Exit(tc.err)
		code, reason, err := c.ReadClose()
		if err != nil || code != tc.code || reason != tc.reason {
			t.Errorf("target ended with %v: close %d %q %v", tc.err, code, reason, err)
		}
		e.waitExit(client)
		if d := e.deadLetters(); d != dead {
			t.Errorf("%d message(s) were sent to the exited target (no ws.leave is due)", d-dead)
		}
	}
}

func TestTransfer(t *testing.T) { eachTopology(t, testTransfer) }

func testTransfer(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{}, topo)
	// Remote: from a target on the relay's node to one on the other.
	oldT, newT := e.targetOn(e.node, false), e.target(false)
	e.relayTo(oldT.PID, `"metadata":{"room":"a"}`)
	c := e.dial(t, nil)
	client := str(oldT.Next("ws.join"), "client_pid")

	// Frames stream while the transfer happens: each goes to exactly one
	// target, in order.
	const n = 300
	sent := make(chan struct{})
	go func() {
		for i := range n {
			c.WriteText(itoa(i))
		}
		close(sent)
	}()
	oldT.Next("ws.message")
	oldT.Send(client, "ws.control", value.MustOf(map[string]any{
		"target_pid": newT.PID.String(), "message_topic": "room.b", "metadata": map[string]any{"room": "b"},
	}))
	<-sent
	var got []string
	for {
		m := <-oldT.Msgs
		if m.Topic == "ws.leave" {
			if str(m, "reason") != "transferred" {
				t.Fatalf("old target's ws.leave: %v", m.Payload)
			}
			break
		}
		got = append(got, str(m, "data"))
	}
	join := newT.Next("ws.join")
	if md, _ := join.Payload.Get("metadata"); str(process.Message{Payload: md}, "room") != "b" || str(join, "client_pid") != client {
		t.Errorf("new target's ws.join %v", join.Payload)
	}
	for len(got)+1 < n { // the first frame was taken above
		got = append(got, str(newT.Next("room.b"), "data"))
	}
	want := make([]string, 0, n)
	for i := 1; i < n; i++ {
		want = append(want, itoa(i))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("frames around the transfer were lost, duplicated or reordered:\n%v", got)
	}
	// The monitor moved: the old target ending does nothing, the new one closes.
	oldT.Exit(nil)
	c.WriteText("still here")
	newT.Next("room.b")
	newT.Exit(nil)
	if code, _, _ := c.ReadClose(); code != 1000 {
		t.Errorf("new target exit: close %d", code)
	}
}

func TestTransferToDeadTarget(t *testing.T) { eachTopology(t, testTransferToDeadTarget) }

func testTransferToDeadTarget(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{}, topo)
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client := str(tg.Next("ws.join"), "client_pid")
	dead := pid.PID{Node: e.targets.Name(), Host: host, ID: 1}
	tg.Send(client, "ws.control", value.MustOf(map[string]any{"target_pid": dead.String()}))
	if m := tg.Next("ws.leave"); str(m, "reason") != "transferred" {
		t.Errorf("ws.leave %v", m.Payload)
	}
	if code, reason, _ := c.ReadClose(); code != 1011 || reason != "target failed" {
		t.Errorf("transfer to a dead PID: close %d %q", code, reason)
	}
}

func TestControlReconfigure(t *testing.T) { eachTopology(t, testControlReconfigure) }

func testControlReconfigure(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{}, topo)
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client := str(tg.Next("ws.join"), "client_pid")
	tg.Send(client, "ws.control", value.MustOf(map[string]any{"message_topic": "t2", "metadata": map[string]any{"x": 1}, "heartbeat_interval": "20ms"}))
	// Client frames and the control travel separately: frames sent before
	// the connection applies it still use the old topic.
	var m process.Message
	for m.Topic != "t2" {
		c.WriteText("a")
		m = <-tg.Msgs
	}
	if md, _ := m.Payload.Get("metadata"); md.Len() != 1 {
		t.Errorf("new metadata: %v", m.Payload)
	}
	tg.Next("ws.heartbeat")
	tg.Send(client, "ws.control", value.MustOf(map[string]any{"heartbeat_interval": "0s"}))
	// A bad control is logged and ignored.
	tg.Send(client, "ws.control", value.MustOf(map[string]any{"target_pid": "nonsense"}))
	tg.Send(client, "ws.control", value.MustOf(map[string]any{"colour": "red"}))
	poll.Until(t, timeout, "bad controls to be logged", func() bool {
		return strings.Contains(e.logs.String(), "ws.control: target_pid") && strings.Contains(e.logs.String(), "ws.control: colour: unknown field")
	})
	// ... and the connection still relays.
	for {
		c.WriteText("b")
		if m := <-tg.Msgs; m.Topic == "t2" {
			break
		} // heartbeats already on their way may come first
	}
}

func TestConnectionIsAProcess(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client, _ := pid.Parse(str(tg.Next("ws.join"), "client_pid"))
	watcher := e.target(false)

	// Registrable: a name reaches it, and is released when it ends.
	if err := e.node.Register("ws:ada", client); err != nil {
		t.Fatal(err)
	}
	watcher.Send("ws:ada", "ws.send", value.String("by name"))
	if s, _ := c.ReadText(); s != "by name" {
		t.Errorf("send by name: %q", s)
	}
	// Monitorable: EXIT with the reason when it closes.
	watcher.Run(func(p *process.Process) { p.Monitor(client) })
	c.WriteClose(4000, "done")
	ev := <-watcher.Events
	if ev.Kind != process.EventExit || ev.From != client || ev.Result.Err != nil || str(process.Message{Payload: ev.Result.Value}, "reason") != "client_closed" {
		t.Errorf("EXIT %+v", ev)
	}
	if _, ok := e.node.Lookup("ws:ada"); ok {
		t.Error("the name outlived the connection")
	}
}

func TestLinks(t *testing.T) {
	e := newEnv(t, wsrelay.Options{OutboundQueue: 1})
	tg := e.target(false)
	e.relayTo(tg.PID, "")

	// A linked process that fails closes the connection with 1011.
	c := e.dial(t, nil)
	client, _ := pid.Parse(str(tg.Next("ws.join"), "client_pid"))
	buddy := e.target(false)
	buddy.Run(func(p *process.Process) {
		if err := p.Link(client); err != nil {
			t.Error(err)
		}
	})
	buddy.Exit(errors.New("crash"))
	if code, _, _ := c.ReadClose(); code != 1011 {
		t.Errorf("linked crash: close %d", code)
	}
	if m := tg.Next("ws.leave"); str(m, "reason") != "error" {
		t.Errorf("ws.leave %v", m.Payload)
	}

	// A connection that ends abnormally (slow consumer) takes its links
	// down: a trapping process gets LINK_DOWN.
	e.dial(t, nil) // a client that never reads
	client2 := str(tg.Next("ws.join"), "client_pid")
	trapper := e.target(false)
	trapper.Run(func(p *process.Process) {
		p.SetTrapLinks(true)
		p2, _ := pid.Parse(client2)
		if err := p.Link(p2); err != nil {
			t.Error(err)
		}
	})
	big := value.String(strings.Repeat("x", 1<<20))
	for range 64 { // a client that never reads
		_ = e.node.Send(pid.PID{}, mustPID(client2), "ws.send", big)
	}
	ev := <-trapper.Events
	if ev.Kind != process.EventLinkDown || !errors.Is(ev.Result.Err, wsrelay.ErrClosed) {
		t.Errorf("LINK_DOWN %+v", ev)
	}
}

func mustPID(s string) pid.PID {
	p, err := pid.Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

func TestClientGoesAway(t *testing.T) { eachTopology(t, testClientGoesAway) }

func testClientGoesAway(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{}, topo)
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	tg.Next("ws.join")
	c.Close() // no close frame
	if m := tg.Next("ws.leave"); str(m, "reason") != "client_closed" || field(m, "code") != int64(1006) {
		t.Errorf("ws.leave %v", m.Payload)
	}
	c = e.dial(t, nil)
	tg.Next("ws.join")
	c.WriteClose(0, "") // a close frame without a code
	if m := tg.Next("ws.leave"); str(m, "reason") != "client_closed" || field(m, "code") != int64(1005) {
		t.Errorf("ws.leave %v", m.Payload)
	}
}

func TestDeadPeerTimeout(t *testing.T) { eachTopology(t, testDeadPeerTimeout) }

func testDeadPeerTimeout(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{PingInterval: 30 * time.Millisecond, PongTimeout: 30 * time.Millisecond}, topo)
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	alive := e.dial(t, nil)
	aliveClient := str(tg.Next("ws.join"), "client_pid")
	e.dial(t, nil) // never reads, so never answers pings
	deadClient := str(tg.Next("ws.join"), "client_pid")
	go func() { // the live client answers pings (ReadMessage does)
		for {
			if _, _, err := alive.ReadMessage(); err != nil {
				return
			}
		}
	}()
	m := tg.Next("ws.leave")
	if str(m, "client_pid") != deadClient || str(m, "reason") != "timeout" {
		t.Errorf("ws.leave %v, want the silent client's timeout", m.Payload)
	}
	// The live one is still relayed.
	alive.WriteText("ok")
	if m := tg.Next("ws.message"); str(m, "client_pid") != aliveClient {
		t.Errorf("%v", m.Payload)
	}
}

func TestSlowConsumer(t *testing.T) { eachTopology(t, testSlowConsumer) }

func testSlowConsumer(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{OutboundQueue: 4, WriteTimeout: 200 * time.Millisecond}, topo)
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	e.dial(t, nil) // the slow client: it never reads
	slowClient := str(tg.Next("ws.join"), "client_pid")
	fast := e.dial(t, nil)
	fastClient := str(tg.Next("ws.join"), "client_pid")
	big := value.String(strings.Repeat("x", 256<<10))
	for range 64 {
		_ = e.node.Send(pid.PID{}, mustPID(slowClient), "ws.send", big)
	}
	m := tg.Next("ws.leave")
	if str(m, "client_pid") != slowClient || str(m, "reason") != "slow_consumer" {
		t.Errorf("ws.leave %v", m.Payload)
	}
	tg.Send(fastClient, "ws.send", value.String("unaffected"))
	if s, err := fast.ReadText(); s != "unaffected" {
		t.Errorf("the other client: %q %v", s, err)
	}
}

func TestShutdown(t *testing.T) { eachTopology(t, testShutdown) }

func testShutdown(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{}, topo)
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	a, b := e.dial(t, nil), e.dial(t, nil)
	tg.Next("ws.join")
	tg.Next("ws.join")
	done := make(chan struct{})
	go func() {
		e.rl.Shutdown(t.Context())
		close(done)
	}()
	for _, c := range []*wsclient.Client{a, b} {
		if code, _, err := c.ReadClose(); code != 1001 {
			t.Errorf("close %d %v, want 1001", code, err)
		}
	}
	for range 2 {
		if m := tg.Next("ws.leave"); str(m, "reason") != "shutdown" || field(m, "code") != int64(1001) {
			t.Errorf("ws.leave %v", m.Payload)
		}
	}
	<-done
	if n := e.rl.Connections(); n != 0 {
		t.Errorf("%d connections after shutdown", n)
	}
	if _, resp, err := wsclient.Dial(e.url, nil); err == nil || resp.Status != 503 {
		t.Errorf("a connection after shutdown: %v %+v", err, resp)
	}
}

func TestOrigins(t *testing.T) {
	for _, tc := range []struct {
		allowed string
		origin  string
		ok      bool
	}{
		{"https://app.example.com", "https://app.example.com", true},
		{"https://app.example.com", "https://evil.example.com", false},
		{"https://app.example.com, https://*.example.org", "https://a.b.example.org", true},
		{"https://*.example.org", "https://example.org", false},
		{"*", "https://anything.test", true},
		{"", "SAME", true}, // same-origin only when none configured
		{"", "http://other.test", false},
		{"", "", true}, // no Origin: not a browser
	} {
		e := newEnv(t, wsrelay.Options{AllowedOrigins: tc.allowed})
		tg := e.target(false)
		e.relayTo(tg.PID, "")
		h := http.Header{}
		switch tc.origin {
		case "SAME":
			h.Set("Origin", e.srv.URL)
		case "":
		default:
			h.Set("Origin", tc.origin)
		}
		c, resp, err := wsclient.Dial(e.url, h)
		if tc.ok {
			if err != nil {
				t.Errorf("allowed %q, origin %q: refused %v %+v", tc.allowed, tc.origin, err, resp)
				continue
			}
			c.Close()
			tg.Next("ws.join")
			continue
		}
		if err == nil || resp.Status != 403 {
			t.Errorf("allowed %q, origin %q: %v %+v, want 403", tc.allowed, tc.origin, err, resp)
		}
		if n := e.calls.Load(); n != 0 {
			t.Errorf("the handler ran %d time(s) for a refused origin", n)
		}
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t, wsrelay.Options{MaxMessageSize: 1000})
	tg := e.target(false)
	for _, tc := range []struct {
		header string
		status int
		log    string
	}{
		{`{not json`, 500, "not JSON"},
		{`{}`, 500, "target_pid: missing"},
		{`{"target_pid":42}`, 500, "target_pid: must be a PID string"},
		{`{"target_pid":"{x"}`, 500, `invalid pid`},
		{`{"target_pid":"` + tg.PID.String() + `","heartbeat_interval":"soon"}`, 500, "heartbeat_interval"},
		{`{"target_pid":"` + tg.PID.String() + `","metadata":"x"}`, 500, "metadata: must be an object"},
		{`{"target_pid":"` + tg.PID.String() + `","message_topic":"@x"}`, 500, "reserved"},
		{`{"target_pid":"` + tg.PID.String() + `","extra":1}`, 500, "extra: unknown field"},
		{`{"target_pid":"{n1@app:processes|1}"}`, 502, "not alive"},
	} {
		e.setHeader(tc.header)
		_, resp, err := wsclient.Dial(e.url, nil)
		if err == nil || resp.Status != tc.status {
			t.Errorf("header %s: %v %+v, want %d", tc.header, err, resp, tc.status)
		}
		if !strings.Contains(e.logs.String(), tc.log) {
			t.Errorf("header %s: the log lacks %q", tc.header, tc.log)
		}
		if tc.status == 500 && !strings.Contains(e.logs.String(), "route=test:ws") {
			t.Errorf("the error log does not name the route")
		}
	}
	// A relay header on a plain request: 426.
	e.relayTo(tg.PID, "")
	resp, err := http.Get(e.srv.URL + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 426 || resp.Header.Get("X-WS-Relay") != "" || resp.Header.Get("Upgrade") != "websocket" {
		t.Errorf("non-upgrade: %d %v", resp.StatusCode, resp.Header)
	}
	// Sizes: the limit is inclusive.
	c := e.dial(t, nil)
	tg.Next("ws.join")
	c.WriteText(strings.Repeat("a", 1000))
	if m := tg.Next("ws.message"); len(str(m, "data")) != 1000 {
		t.Error("a message of exactly the limit was not relayed")
	}
	c.WriteText(strings.Repeat("a", 1001))
	if code, _, _ := c.ReadClose(); code != 1009 {
		t.Errorf("oversize: close %d, want 1009", code)
	}
	if m := tg.Next("ws.leave"); str(m, "reason") != "error" || field(m, "code") != int64(1009) {
		t.Errorf("ws.leave %v", m.Payload)
	}
	// Invalid UTF-8 in a text frame.
	c = e.dial(t, nil)
	tg.Next("ws.join")
	c.WriteFrame(true, 0, wsclient.OpText, []byte{0xff, 0xfe}, true)
	if code, _, _ := c.ReadClose(); code != 1007 {
		t.Errorf("invalid UTF-8: close %d, want 1007", code)
	}
	if m := tg.Next("ws.leave"); field(m, "code") != int64(1007) {
		t.Errorf("ws.leave %v", m.Payload)
	}
}

func itoa(i int) string {
	const digits = "0123456789"
	if i < 10 {
		return digits[i : i+1]
	}
	return itoa(i/10) + digits[i%10:i%10+1]
}

// TestBackpressure: a target whose mailbox is full holds the client back
// instead of losing its frames.
func TestBackpressure(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	h, err := e.node.AddHost("small", &process.HostOptions{MailboxSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	release, got := make(chan struct{}), make(chan value.Value, 1000)
	target := stalledTarget(t, e.node, "small", release, nil, got)
	e.relayTo(target, "")
	c := e.dial(t, nil)
	const n = 200
	for i := range n {
		if err := c.WriteText(itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	for i := range n {
		if s := dataText(<-got); s != itoa(i) {
			t.Fatalf("frame %d: got %q", i, s)
		}
	}
	if d := h.Stats().Dropped; d != 0 {
		t.Errorf("%d frames dropped", d)
	}
}

// TestBackpressureBytes: clients sending large frames to a target that
// does not keep up fill its mailbox up to its byte bound, not to what
// their in-flight budgets together allow (8 MiB here), and lose nothing:
// each is held back until the target takes its frames.
func TestBackpressureBytes(t *testing.T) {
	m := &pauses{}
	e := newEnv(t, wsrelay.Options{Metrics: m})
	const bound = 256 << 10
	h, err := e.node.AddHost("bytes", &process.HostOptions{MailboxSize: 100000, MailboxBytes: bound})
	if err != nil {
		t.Fatal(err)
	}
	release, got := make(chan struct{}), make(chan value.Value, 1000)
	target := stalledTarget(t, e.node, "bytes", release, nil, got)
	e.relayTo(target, "")
	const clients, frames = 8, 40
	body := func(c, i int) string { return itoa(c) + ":" + itoa(i) + ":" + strings.Repeat("x", 30<<10) }
	wrote := make(chan error, clients)
	for ci := range clients {
		c := e.dial(t, nil)
		go func() {
			for i := range frames {
				if err := c.WriteText(body(ci, i)); err != nil {
					wrote <- err
					return
				}
			}
			wrote <- nil
		}()
	}
	poll.Until(t, timeout, "every client held back for the full mailbox", func() bool { return m.mailbox.Load() >= clients })
	if b := e.node.MailboxBytes(target); b > bound || b < bound/2 {
		t.Fatalf("the target's mailbox holds %d bytes; want it full, within its bound of %d", b, bound)
	}
	close(release)
	next := make([]int, clients)
	for range clients * frames {
		s := dataText(<-got)
		var ci, i int
		if _, err := fmt.Sscanf(s, "%d:%d:", &ci, &i); err != nil || ci < 0 || ci >= clients || i != next[ci] {
			t.Fatalf("got %.12q…: not the next frame of a client (%v)", s, next)
		}
		next[ci]++
	}
	for range clients {
		if err := <-wrote; err != nil {
			t.Fatal(err)
		}
	}
	if d := h.Stats().Dropped; d != 0 {
		t.Errorf("%d frames dropped", d)
	}
}

// TestTargetSaysGoodbye: what a target sends just before it ends reaches
// the client before the connection closes.
func TestTargetSaysGoodbye(t *testing.T) { eachTopology(t, testTargetSaysGoodbye) }

func testTargetSaysGoodbye(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{}, topo)
	for _, last := range []string{"ws.send", "ws.close"} {
		tg := e.target(false)
		e.relayTo(tg.PID, "")
		c := e.dial(t, nil)
		client := str(tg.Next("ws.join"), "client_pid")
		tg.Run(func(p *process.Process) {
			p.SendDest(client, "ws.send", value.String("goodbye"))
			if last == "ws.close" {
				p.SendDest(client, "ws.close", value.MustOf(map[string]any{"code": 4001, "reason": "done"}))
			}
		})
		tg.Exit(nil)
		if s, err := c.ReadText(); s != "goodbye" {
			t.Errorf("%s: the last frame was lost: %q %v", last, s, err)
		}
		code, reason, _ := c.ReadClose()
		want := map[string]int{"ws.send": 1000, "ws.close": 4001}[last]
		if code != want {
			t.Errorf("%s: close %d %q, want %d", last, code, reason, want)
		}
	}
}

// TestBurst: a burst of frames the target sends at once, small and large
// (queued frames go out in batched writes, and a frame over the batch
// size on its own), reaches the client whole and in order, and a close
// right behind it still comes last.
func TestBurst(t *testing.T) { eachTopology(t, testBurst) }

func testBurst(t *testing.T, topo topology) {
	// The burst is about 5.7 MB, more than the default outbound byte
	// budget: room for all of it, since this test is about order.
	e := newEnvIn(t, wsrelay.Options{OutboundQueue: 1000, OutboundMaxBytes: 16 << 20}, topo)
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client := str(tg.Next("ws.join"), "client_pid")
	sizes := []int{1, 100, 70 << 10, 5000}
	const n = 300
	body := func(i int) string {
		return itoa(i) + ":" + strings.Repeat("x", sizes[i%len(sizes)])
	}
	tg.Run(func(p *process.Process) {
		for i := range n {
			p.SendDest(client, "ws.send", value.String(body(i)))
		}
		p.SendDest(client, "ws.close", value.MustOf(map[string]any{"code": 4002, "reason": "burst done"}))
	})
	for i := range n {
		s, err := c.ReadText()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if s != body(i) {
			t.Fatalf("frame %d: got %.20q… (%d bytes), want %.20q… (%d bytes)", i, s, len(s), body(i), len(body(i)))
		}
	}
	if code, reason, err := c.ReadClose(); code != 4002 || reason != "burst done" {
		t.Errorf("close after the burst: %d %q %v", code, reason, err)
	}
}

// pauses counts the relay's read pauses by cause.
type pauses struct {
	outbound, mailbox atomic.Int64
}

func (*pauses) Opened()       {}
func (*pauses) Closed(string) {}
func (*pauses) FrameIn(int)   {}
func (*pauses) FrameOut(int)  {}
func (p *pauses) Paused(cause string) {
	switch cause {
	case wsrelay.PauseOutboundQueue:
		p.outbound.Add(1)
	case wsrelay.PauseTargetMailbox:
		p.mailbox.Add(1)
	}
}

// pipeline sends n text frames body(i) from c without reading, waits
// until the relay has paused reading c for its outbound queue, then reads
// every echo and checks that it comes back whole and in order.
func pipeline(t *testing.T, e *env, c *wsclient.Client, m *pauses, n int, body func(int) string) {
	t.Helper()
	wrote := make(chan error, 1)
	go func() {
		for i := range n {
			if err := c.WriteText(body(i)); err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()
	poll.Until(t, timeout, "the relay to pause reading the client", func() bool {
		select {
		case err := <-wrote:
			t.Fatalf("the writer ended (%v) before the relay paused reading (logs: %s)", err, e.logs)
		default:
		}
		return m.outbound.Load() > 0
	})
	for i := range n {
		s, err := c.ReadText()
		if err != nil {
			t.Fatalf("echo %d: %v (logs: %s)", i, err, e.logs)
		}
		if s != body(i) {
			t.Fatalf("echo %d: got %.12q…", i, s)
		}
	}
	if err := <-wrote; err != nil {
		t.Fatalf("writing: %v", err)
	}
}

// TestPipeliningClientIsSlowedNotCut: a client that sends far more than
// its outbound queue holds to an echoing target, and reads nothing until
// the relay has stopped reading it, still gets every echo, in order: the
// relay holds it back instead of closing it as a slow consumer. A target
// on another node answers for each frame it takes (docs/cluster.md), so
// the client is held back for its frames in flight there too.
func TestPipeliningClientIsSlowedNotCut(t *testing.T) {
	eachTopology(t, testPipeliningClientIsSlowedNotCut)
}

func testPipeliningClientIsSlowedNotCut(t *testing.T, topo topology) {
	m := &pauses{}
	e := newEnvIn(t, wsrelay.Options{OutboundQueue: 16, Metrics: m}, topo)
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	const n = 2000 // of 16 KiB: more than the socket buffers hold
	body := func(i int) string { return itoa(i) + ":" + strings.Repeat("x", 16<<10) }
	pipeline(t, e, c, m, n, body)
}

// TestJoinAndLeaveToAFullMailbox: a client that connects while its
// target's mailbox is full is not lost to the target: its ws.join waits
// for room (or, on another node, goes in with a receipt), and its
// ws.leave, owed for that join, goes in even to a full mailbox. Nothing
// is dropped, and the target sees join then leave, after what filled its
// mailbox.
func TestJoinAndLeaveToAFullMailbox(t *testing.T) { eachTopology(t, testJoinAndLeaveToAFullMailbox) }

func testJoinAndLeaveToAFullMailbox(t *testing.T, topo topology) {
	e := newEnvIn(t, wsrelay.Options{}, topo)
	const size = 4
	h, err := e.targets.AddHost("full", &process.HostOptions{MailboxSize: size})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	got := make(chan string, 100)
	target, _ := e.targets.Spawn("full", func(p *process.Process) (value.Value, error) {
		select {
		case <-release:
		case <-p.Context().Done():
			return value.Nil(), nil
		}
		for {
			m, ok := p.Receive(p.Context())
			if !ok {
				return value.Nil(), nil
			}
			got <- m.Topic
		}
	}, process.SpawnOptions{})
	for range size {
		if err := e.targets.Send(pid.PID{}, target, "filler", value.Nil()); err != nil {
			t.Fatal(err)
		}
	}
	e.relayTo(target, "")
	c := e.dial(t, nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if topo.remote { // the leave is on its way once the relay saw the close
		poll.Until(t, timeout, "the join and the leave to reach the target's mailbox", func() bool { return e.targets.MailboxLen(target) == size+2 })
	}
	close(release)
	want := []string{"filler", "filler", "filler", "filler", "ws.join", "ws.leave"}
	for i, w := range want {
		select {
		case topic := <-got:
			if topic != w {
				t.Fatalf("message %d: %s, want %s", i, topic, w)
			}
		case <-time.After(timeout):
			t.Fatalf("message %d (%s) never came; %d dropped", i, w, h.Stats().Dropped)
		}
	}
	if d := h.Stats().Dropped; d != 0 {
		t.Fatalf("%d messages dropped", d)
	}
}
