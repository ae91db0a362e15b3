package gateway_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/process"
)

// TestServiceKeepsItsName: while the crasher service is being restarted,
// no other process can take or release its name, not even between two
// runs; the name is free once the service gives up.
func TestServiceKeepsItsName(t *testing.T) {
	ta := startApp(t)
	n := ta.Node()
	intruder, ok := n.Lookup("probe")
	if !ok {
		t.Fatal("no probe")
	}
	if m := <-ta.probe; m.Topic != "started" { // the first run has the name
		t.Fatalf("probe got %s", m.Topic)
	}
	deadline := time.After(timeout)
	for tries := 0; ; tries++ {
		if err := n.UnregisterBy(intruder, "app:crasher"); err == nil {
			t.Fatal("another process released the service's name")
		}
		err := n.RegisterBy(intruder, "app:crasher", intruder)
		if err == nil {
			// Only once the supervisor has given up, which it logs
			// before it ends and releases the name.
			if !strings.Contains(ta.logs.String(), "giving up") {
				t.Fatalf("another process took the service's name after %d tries; log:\n%s", tries, ta.logs.String())
			}
			break
		}
		if !errors.Is(err, process.ErrNameTaken) {
			t.Fatalf("register: %v", err)
		}
		select { // a millisecond between tries: many fall between two runs
		case <-ta.probe:
		case <-time.After(time.Millisecond):
		case <-deadline:
			t.Fatal("the service did not give up")
		}
	}
}
