package wsrelay_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// A Go program mounts the relay on its own net/http handler; a Go process
// is the target and answers each client frame.
func Example() {
	node, _ := process.NewNode(&process.Options{Name: "n1"})
	node.AddHost("app:processes", nil)

	// The target: upper-cases what each client sends and replies to it.
	target, _ := node.Spawn("app:processes", func(p *process.Process) (value.Value, error) {
		for {
			m, ok := p.Receive(p.Context())
			if !ok {
				return value.Nil(), nil
			}
			if m.Topic == "chat.in" {
				client, _ := m.Payload.Get("client_pid")
				data, _ := m.Payload.Get("data")
				c, _ := client.Text()
				d, _ := data.Text()
				p.SendDest(c, "ws.send", value.String(strings.ToUpper(d)))
			}
		}
	}, process.SpawnOptions{})

	relay, _ := wsrelay.New(wsrelay.Options{Node: node, AllowedOrigins: "*"})
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(wsrelay.HeaderName, wsrelay.Header{Target: target, Topic: "chat.in"}.String())
	})
	srv := httptest.NewServer(relay.Middleware(handler))

	c, _, _ := wsclient.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/chat", nil)
	c.WriteText("hello, relay")
	reply, _ := c.ReadText()
	fmt.Println(reply)

	c.Close()
	relay.Shutdown(context.Background())
	srv.Close()
	node.Shutdown(context.Background())
	// Output: HELLO, RELAY
}
