package pg_test

import (
	"context"
	"fmt"

	"github.com/wsrelay/wsrelay/pg"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// Example joins a process to a group, watches the group, and broadcasts
// to it. On a cluster, give pg.Options a Carrier (the cluster transport)
// and hand the Service to the transport with SetGroups.
func Example() {
	node, _ := process.NewNode(&process.Options{Name: "n1"})
	node.AddHost("app:processes", nil)
	defer node.Shutdown(context.Background())
	groups, err := pg.New(pg.Options{Node: node})
	if err != nil {
		panic(err)
	}
	defer groups.Close()
	scope, _ := groups.AddScope("app:pg", pg.ScopeOptions{MaxMembersPerGroup: 1000})

	got := make(chan string, 1)
	member, _ := node.Spawn("app:processes", func(p *process.Process) (value.Value, error) {
		m, _ := p.Receive(p.Context())
		t, _ := m.Payload.Text()
		got <- m.Topic + ": " + t
		return value.Nil(), nil
	}, process.SpawnOptions{})

	sub, members, _ := scope.Monitor("workers")
	defer sub.Close()
	fmt.Println("members before:", len(members))
	if err := scope.Join(member, "workers"); err != nil {
		panic(err)
	}
	<-sub.Ready()
	e, _, _ := sub.Next()
	fmt.Println(e.Kind, e.Group, len(e.PIDs))

	_ = scope.Broadcast(member, "workers", "task", value.String("build"))
	fmt.Println(<-got)
	// Output:
	// members before: 0
	// member.joined workers 1
	// task: build
}
