package process_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// A host runs at most MaxProcesses processes: a spawn past it fails with
// an error naming the host and its bound, a spawn that fails otherwise
// takes no place, and a process that ends makes room for one more.
func TestHostMaxProcesses(t *testing.T) {
	t.Parallel()
	n := newNode(t, &process.HostOptions{MaxProcesses: 3}, nil)
	var ids []pid.PID
	var stops []chan struct{}
	spawn := func(opts process.SpawnOptions) error {
		stop := make(chan struct{})
		id, err := n.Spawn(host, func(p *process.Process) (value.Value, error) {
			select {
			case <-stop:
			case <-p.Context().Done():
			}
			return value.Nil(), nil
		}, opts)
		if err == nil {
			ids, stops = append(ids, id), append(stops, stop)
		}
		return err
	}
	for range 3 {
		if err := spawn(process.SpawnOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	err := spawn(process.SpawnOptions{})
	if !errors.Is(err, process.ErrHostFull) || !strings.Contains(err.Error(), "process host "+host+" runs 3 processes already, its max_processes") {
		t.Fatalf("a fourth process: %v", err)
	}
	close(stops[1])
	poll.Until(t, timeout, "the second process's end", func() bool { return n.Hosts()[0].Stats().Live == 2 })
	if err := n.Register("taken", ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := spawn(process.SpawnOptions{Name: "taken"}); !errors.Is(err, process.ErrNameTaken) {
		t.Fatalf("a spawn under a taken name: %v", err)
	}
	poll.Until(t, timeout, "the failed spawn's end", func() bool { return n.Hosts()[0].Stats().Live == 2 })
	if err := spawn(process.SpawnOptions{}); err != nil {
		t.Fatalf("a third process after one ended: %v", err)
	}
	if err := spawn(process.SpawnOptions{}); !errors.Is(err, process.ErrHostFull) {
		t.Fatalf("a fourth process again: %v", err)
	}
	for i, stop := range stops {
		if i != 1 {
			close(stop)
		}
	}
}
