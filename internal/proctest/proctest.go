// Package proctest is a Go process that tests drive: it forwards what it
// receives to channels, runs closures as itself, and ends when told.
package proctest

import (
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// Timeout bounds every wait of a Probe: generous, since a deadline only
// matters when something is wrong, and a loaded machine running -race
// can take many seconds for work that takes one when idle.
const Timeout = 60 * time.Second

// Probe is a blocking process run by a test.
type Probe struct {
	t      testing.TB
	PID    pid.PID
	Msgs   chan process.Message // what it received (a full channel drops)
	Events chan process.Event
	do     chan func(*process.Process)
	quit   chan error
}

// Spawn starts a probe on host. onMessage, when not nil, runs as the
// probe for each message before it is forwarded.
func Spawn(t testing.TB, node *process.Node, host string, onMessage func(*process.Process, process.Message)) *Probe {
	t.Helper()
	pr := &Probe{t: t, Msgs: make(chan process.Message, 4096), Events: make(chan process.Event, 64),
		do: make(chan func(*process.Process)), quit: make(chan error, 1)}
	id, err := node.Spawn(host, func(p *process.Process) (value.Value, error) {
		for {
			select {
			case <-p.InboxReady():
				for {
					m, ok, closed := p.TryReceive()
					if closed {
						return value.Nil(), nil
					}
					if !ok {
						break
					}
					if onMessage != nil {
						onMessage(p, m)
					}
					select {
					case pr.Msgs <- m:
					default: // a test that does not read what it gets
					}
				}
			case <-p.EventsReady():
				for {
					ev, ok, _ := p.TryReceiveEvent()
					if !ok {
						break
					}
					select {
					case pr.Events <- ev:
					default:
					}
				}
			case f := <-pr.do:
				f(p)
			case err := <-pr.quit:
				return value.Nil(), err
			case <-p.Context().Done():
				return value.Nil(), nil
			}
		}
	}, process.SpawnOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pr.PID = id
	return pr
}

// Run runs f as the probe and waits for it.
func (pr *Probe) Run(f func(p *process.Process)) {
	done := make(chan struct{})
	pr.do <- func(p *process.Process) { f(p); close(done) }
	<-done
}

// Send sends from the probe to a PID string or name.
func (pr *Probe) Send(to, topic string, payload value.Value) {
	pr.t.Helper()
	var err error
	pr.Run(func(p *process.Process) { err = p.SendDest(to, topic, payload) })
	if err != nil {
		pr.t.Fatal(err)
	}
}

// Register gives the probe a name.
func (pr *Probe) Register(name string) {
	pr.t.Helper()
	var err error
	pr.Run(func(p *process.Process) { err = p.Register(name) })
	if err != nil {
		pr.t.Fatal(err)
	}
}

// Monitor makes the probe monitor target.
func (pr *Probe) Monitor(target pid.PID) {
	pr.t.Helper()
	var err error
	pr.Run(func(p *process.Process) { err = p.Monitor(target) })
	if err != nil {
		pr.t.Fatal(err)
	}
}

// Recv returns the next message.
func (pr *Probe) Recv() process.Message {
	pr.t.Helper()
	select {
	case m := <-pr.Msgs:
		return m
	case <-time.After(Timeout):
		pr.t.Fatal("the probe got no message")
	}
	return process.Message{}
}

// Next returns the next message, which must have the topic.
func (pr *Probe) Next(topic string) process.Message {
	pr.t.Helper()
	m := pr.Recv()
	if m.Topic != topic {
		pr.t.Fatalf("the probe got %s %v, want %s", m.Topic, m.Payload, topic)
	}
	return m
}

// Event returns the next event.
func (pr *Probe) Event() process.Event {
	pr.t.Helper()
	select {
	case ev := <-pr.Events:
		return ev
	case <-time.After(Timeout):
		pr.t.Fatal("the probe got no event")
	}
	return process.Event{}
}

// Await returns the result of id, which the probe monitors.
func (pr *Probe) Await(id pid.PID) process.Result {
	pr.t.Helper()
	for {
		if ev := pr.Event(); ev.Kind == process.EventExit && ev.From == id {
			return ev.Result
		}
	}
}

// Exit ends the probe with err (nil: normally).
func (pr *Probe) Exit(err error) { pr.quit <- err }
