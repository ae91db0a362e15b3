package process_test

import (
	"context"
	"fmt"

	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// A process that answers "ping" with "pong", and another that monitors it.
func ExampleNode_Spawn() {
	node, _ := process.NewNode(&process.Options{Name: "n1"})
	_, _ = node.AddHost("app:processes", nil)
	defer node.Shutdown(context.Background())

	server, _ := node.Spawn("app:processes", func(p *process.Process) (value.Value, error) {
		m, ok := p.Receive(p.Context())
		if !ok {
			return value.Nil(), nil
		}
		return value.Nil(), p.Send(m.From, "pong", m.Payload)
	}, process.SpawnOptions{Name: "echo"})

	done := make(chan string)
	_, _ = node.Spawn("app:processes", func(p *process.Process) (value.Value, error) {
		_ = p.Monitor(server)
		_ = p.SendDest("echo", "ping", value.String("hello"))
		m, _ := p.Receive(p.Context())
		e, _ := p.ReceiveEvent(p.Context())
		done <- fmt.Sprintf("%s %v, then %s (error: %v)", m.Topic, m.Payload, e.Kind, e.Result.Err)
		return value.Nil(), nil
	}, process.SpawnOptions{})
	fmt.Println(<-done)
	// Output: pong "hello", then EXIT (error: <nil>)
}
