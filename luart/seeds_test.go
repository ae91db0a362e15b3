package luart_test

import (
	"encoding/json"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"net/http"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// The Lua snippets of the seed documents, in testdata/seeds, run unchanged:
// the tests only add what the snippets assume around them (the variables
// they use, the functions they call, and the return of the entry table).

func TestSeedHandlerSetsRelayHeader(t *testing.T) {
	e := newEnv(t, nil)
	e.processMethod("app.ws:handler", "handler", seed(t, "receive_loop.lua")+"\nreturn { handler = handler }\n", "json")
	h := e.function("app.ws:connect", seed(t, "handler_setup.lua")+"\nreturn { handler = handler }\n", "http", "json")

	for _, tc := range []struct {
		query    string
		metadata string
	}{
		{"?user_id=42", `{"user_id":"42"}`},
		{"", `{}`}, // no user_id: the metadata table is empty
	} {
		t.Run("query="+tc.query, func(t *testing.T) {
			w := serve(h, "GET", "/ws"+tc.query, "")
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, body %q", w.Code, w.Body.String())
			}
			var hdr struct {
				TargetPID         string          `json:"target_pid"`
				MessageTopic      string          `json:"message_topic"`
				HeartbeatInterval string          `json:"heartbeat_interval"`
				Metadata          json.RawMessage `json:"metadata"`
			}
			raw := w.Header().Get("X-WS-Relay")
			if err := json.Unmarshal([]byte(raw), &hdr); err != nil {
				t.Fatalf("X-WS-Relay %q: %v", raw, err)
			}
			if hdr.MessageTopic != "ws.message" || hdr.HeartbeatInterval != "30s" || string(hdr.Metadata) != tc.metadata {
				t.Errorf("X-WS-Relay = %s", raw)
			}
			target, err := pid.Parse(hdr.TargetPID)
			if err != nil {
				t.Fatal(err)
			}
			if !e.node.Alive(target) || target.Host != host {
				t.Errorf("target %v is not a live process on %s", target, host)
			}
			_ = e.node.Terminate(target)
		})
	}
}

func TestSeedReceiveLoop(t *testing.T) {
	e := newEnv(t, nil)
	pr := e.probe()
	pr.Register("probe")
	prelude := `
function handle_message(client_pid, content)
    process.send("probe", "handled", {client = client_pid, content = content})
end
function cleanup(client_pid)
    process.send("probe", "cleanup", {client = client_pid})
end
`
	prog := e.processMethod("app.ws:handler", "handler", prelude+seed(t, "receive_loop.lua")+"\nreturn { handler = handler }\n", "json")
	id := e.spawn(prog)
	client := "{n1@ws|7}"
	send := func(topic string, payload any) {
		if err := e.node.Send(pid.PID{}, id, topic, value.MustOf(payload)); err != nil {
			t.Fatal(err)
		}
	}
	send("ws.join", map[string]any{"client_pid": client, "metadata": map[string]any{}})
	send("ws.message", map[string]any{"client_pid": client, "type": "text", "data": `{"say":"hi","n":3}`})
	send("ws.leave", map[string]any{"client_pid": client, "reason": "client_closed"})

	m := pr.Recv()
	want := value.MustOf(map[string]any{"client": client, "content": map[string]any{"say": "hi", "n": 3}})
	if m.Topic != "handled" || !value.Equal(m.Payload, want) || m.From != id {
		t.Errorf("got %s %v from %v, want handled %v", m.Topic, m.Payload, m.From, want)
	}
	if m := pr.Recv(); m.Topic != "cleanup" || !value.Equal(m.Payload, value.MustOf(map[string]any{"client": client})) {
		t.Errorf("got %s %v, want cleanup", m.Topic, m.Payload)
	}
	// Cancelling closes the inbox: receive returns ok=false and the loop ends normally.
	pr.Monitor(id)
	if err := e.node.Cancel(pid.PID{}, id, "done"); err != nil {
		t.Fatal(err)
	}
	if ev := pr.Event(); ev.Kind != process.EventExit || ev.Result.Err != nil {
		t.Errorf("after cancel: %+v, want a normal EXIT", ev)
	}
}

func TestSeedSendToClient(t *testing.T) {
	e := newEnv(t, nil)
	pr := e.probe()
	pr.Register("client")
	code := `local json = require("json")
local client_pid = "client"
local binary_content = "\0\1\2\255"
` + seed(t, "send_to_client.lua") + "\nreturn { main = function() end }\n"
	ok(t, e.run(code, "json"))
	want := []struct {
		topic   string
		payload value.Value
	}{
		{"ws.send", value.MustOf(map[string]any{"type": "text", "data": `{"event":"update","value":42}`})},
		{"ws.send", value.Map(value.Field{Key: "type", Value: value.String("binary")}, value.Field{Key: "data", Value: value.Bytes([]byte{0, 1, 2, 255})})},
		{"ws.close", value.MustOf(map[string]any{"code": 1000, "reason": "Session ended"})},
	}
	for _, w := range want {
		if m := pr.Recv(); m.Topic != w.topic || !value.Equal(m.Payload, w.payload) {
			t.Errorf("got %s %v, want %s %v", m.Topic, m.Payload, w.topic, w.payload)
		}
	}
}

func TestSeedBroadcast(t *testing.T) {
	e := newEnv(t, nil)
	a, b := e.probe(), e.probe()
	code := `local json = require("json")
local client_pid = "` + a.PID.String() + `"
` + seed(t, "broadcast.lua") + `
clients["` + a.PID.String() + `"] = true
clients["` + b.PID.String() + `"] = true
broadcast({event = "hello"})
return { main = function() end }
`
	ok(t, e.run(code, "json"))
	want := value.MustOf(map[string]any{"type": "text", "data": `{"event":"hello"}`})
	for _, pr := range []*proctest.Probe{a, b} {
		if m := pr.Recv(); m.Topic != "ws.send" || !value.Equal(m.Payload, want) {
			t.Errorf("got %s %v, want ws.send %v", m.Topic, m.Payload, want)
		}
	}
}

func TestSeedMonitorAndSend(t *testing.T) {
	e := newEnv(t, nil)
	ws := e.probe()
	ws.Register("ws")
	out := e.probe()
	out.Register("out")
	code := `local websocket_pid = process.registry.lookup("ws")
` + seed(t, "monitor_and_send.lua") + `
return { main = function()
    local ev = process.events():receive()
    process.send("out", "event", ev)
end }
`
	prog := e.process("app:monitor", code)
	id := e.spawn(prog)
	if m := ws.Recv(); m.Topic != "ws.send" || !value.Equal(m.Payload, value.MustOf(map[string]any{"type": "text", "data": "hello"})) || m.From != id {
		t.Errorf("got %s %v from %v", m.Topic, m.Payload, m.From)
	}
	_ = e.node.Terminate(ws.PID)
	m := out.Recv()
	kind, _ := m.Payload.Get("kind")
	from, _ := m.Payload.Get("from")
	errText, _ := m.Payload.Get("result")
	if k, _ := kind.Text(); k != "EXIT" {
		t.Errorf("event %v, want EXIT", m.Payload)
	}
	if f, _ := from.Text(); f != ws.PID.String() {
		t.Errorf("EXIT from %v, want %v", f, ws.PID)
	}
	if e, _ := errText.Get("error"); e.String() != `"terminated"` {
		t.Errorf("result %v, want error terminated", errText)
	}
}

func TestSeedTransfer(t *testing.T) {
	e := newEnv(t, nil)
	ws := e.probe()
	code := `local websocket_pid = "` + ws.PID.String() + `"
local new_process_pid = "{n1@app:processes|99}"
` + seed(t, "transfer.lua") + "\nreturn { main = function() end }\n"
	ok(t, e.run(code))
	want := value.MustOf(map[string]any{"target_pid": "{n1@app:processes|99}", "message_topic": "ws.message"})
	if m := ws.Recv(); m.Topic != "ws.control" || !value.Equal(m.Payload, want) {
		t.Errorf("got %s %v, want ws.control %v", m.Topic, m.Payload, want)
	}
}
