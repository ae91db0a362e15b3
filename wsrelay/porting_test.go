package wsrelay_test

import (
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// The relay's forms from the original runtime's current docs: ws.close
// with a reason string, a ws.control with a field it does not know, and
// client frames as their raw data.

func TestCloseWithReasonString(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client := str(tg.Next("ws.join"), "client_pid")
	tg.Send(client, "ws.close", value.String("Session ended"))
	if code, reason, err := c.ReadClose(); err != nil || code != 1000 || reason != "Session ended" {
		t.Errorf("close frame %d %q %v, want 1000 \"Session ended\"", code, reason, err)
	}
}

func TestControlWithUnknownFieldApplies(t *testing.T) {
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	client := str(tg.Next("ws.join"), "client_pid")
	tg.Send(client, "ws.control", value.MustOf(map[string]any{"message_topic": "t2", "plugin": "chat"}))
	var m process.Message
	for m.Topic != "t2" {
		c.WriteText("a")
		m = <-tg.Msgs
	}
	poll.Until(t, timeout, "the unknown field to be logged", func() bool {
		l := e.logs.String()
		return strings.Contains(l, "ws.control: fields not known here were ignored; the others are applied") && strings.Contains(l, "fields=plugin")
	})
}

func TestRawPayload(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   wsrelay.Options
		header string
	}{
		{"header", wsrelay.Options{}, `"raw_payload":true`},
		{"route", wsrelay.Options{RawPayload: true}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			tg := e.target(false)
			e.relayTo(tg.PID, tc.header)
			c := e.dial(t, nil)
			client := str(tg.Next("ws.join"), "client_pid")
			c.WriteText(`{"type":"ping"}`)
			m := tg.Next("ws.message")
			if s, ok := m.Payload.Text(); !ok || s != `{"type":"ping"}` || m.From.String() != client {
				t.Errorf("ws.message payload %v from %v, want the frame's text from %s", m.Payload, m.From, client)
			}
			c.WriteBinary([]byte{0, 1})
			m = tg.Next("ws.message")
			if b, ok := m.Payload.Bytes(); !ok || len(b) != 2 || m.Payload.Kind() != value.KindBytes {
				t.Errorf("binary frame: %v", m.Payload)
			}
		})
	}
	// The default is the table.
	e := newEnv(t, wsrelay.Options{})
	tg := e.target(false)
	e.relayTo(tg.PID, "")
	c := e.dial(t, nil)
	tg.Next("ws.join")
	c.WriteText("x")
	if m := tg.Next("ws.message"); str(m, "data") != "x" || str(m, "type") != "text" {
		t.Errorf("default payload %v", m.Payload)
	}
}
