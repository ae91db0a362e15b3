package process_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// Names live outside any Lua state, so they are bounded here: a name has
// at most 256 bytes, a process holds at most MaxNamesPerProcess names
// and the node MaxNames; past a bound the name is refused with an error
// saying which, and a process that ends gives its names back.
func TestNameBounds(t *testing.T) {
	t.Parallel()
	n := newNode(t, nil, &process.Options{MaxNames: 5, MaxNamesPerProcess: 3})
	a, b := spawnProbe(t, n, process.SpawnOptions{}), spawnProbe(t, n, process.SpawnOptions{})

	long := strings.Repeat("n", process.MaxNameLen+1)
	err := n.RegisterBy(a.pid, long, a.pid)
	if !errors.Is(err, process.ErrInvalidName) || !strings.Contains(err.Error(), "at most 256 bytes, got 257") || len(err.Error()) > 300 {
		t.Fatalf("a name of 257 bytes: %v", err)
	}
	if err := n.RegisterBy(a.pid, long[:process.MaxNameLen], a.pid); err != nil {
		t.Fatalf("a name of 256 bytes: %v", err)
	}
	for i := 1; i < 3; i++ {
		if err := n.RegisterBy(a.pid, "a"+strconv.Itoa(i), a.pid); err != nil {
			t.Fatal(err)
		}
	}
	err = n.RegisterBy(a.pid, "a3", a.pid)
	if !errors.Is(err, process.ErrTooManyNames) || !strings.Contains(err.Error(), "holds 3 names already, the limit of a process") {
		t.Fatalf("a fourth name for one process: %v", err)
	}
	if err := n.RegisterBy(a.pid, "a1", a.pid); err != nil {
		t.Fatalf("a name the process holds again: %v", err)
	}
	for i := 0; i < 2; i++ {
		if err := n.RegisterBy(b.pid, "b"+strconv.Itoa(i), b.pid); err != nil {
			t.Fatal(err)
		}
	}
	err = n.Reserve("b2", b.pid)
	if !errors.Is(err, process.ErrTooManyNames) || !strings.Contains(err.Error(), "the node holds 5 names already") {
		t.Fatalf("a sixth name on the node: %v", err)
	}
	// The holder of three names ends: they are free, and there is room.
	a.exit(value.Nil(), nil)
	waitExit(t, n, a.pid)
	if err := n.RegisterBy(b.pid, "b2", b.pid); err != nil {
		t.Fatalf("a name after another process gave its names back: %v", err)
	}
}
