// Package leakcheck finds goroutines that tests left running.
//
// Use it from TestMain in every package whose tests start goroutines:
//
//	func TestMain(m *testing.M) { leakcheck.Main(m) }
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Timeout is how long Main and Check wait for goroutines to end.
const Timeout = 10 * time.Second

// Main runs the tests, then fails the run if goroutines that were not there
// before the tests are still running Timeout later.
func Main(m *testing.M) {
	before := Snapshot()
	code := m.Run()
	if code == 0 {
		if err := Check(before, Timeout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			code = 1
		}
	}
	os.Exit(code)
}

// Goroutines is a set of goroutines, by id.
type Goroutines map[string]bool

// Snapshot returns the goroutines running now.
func Snapshot() Goroutines {
	s := make(Goroutines)
	for _, g := range stacks() {
		s[goroutineID(g)] = true
	}
	return s
}

// Check waits up to timeout for every goroutine not in before (and not
// the runtime's or the test framework's own) to end. It returns an error
// listing the stacks of those still running.
func Check(before Goroutines, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		leaked := leakedSince(before)
		if len(leaked) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("leakcheck: %d goroutine(s) still running:\n\n%s", len(leaked), strings.Join(leaked, "\n\n"))
		}
		time.Sleep(wait) // polling with a deadline: there is no event to wait on
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// Count returns how many goroutines not in before are running.
func Count(before Goroutines) int { return len(leakedSince(before)) }

func leakedSince(before Goroutines) []string {
	var out []string
	for _, g := range stacks() {
		if before[goroutineID(g)] || ignored(g) {
			continue
		}
		out = append(out, g)
	}
	return out
}

func stacks() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	gs := strings.Split(string(buf), "\n\n")
	return gs[1:] // the first is the caller's own goroutine
}

func goroutineID(stack string) string {
	// "goroutine 123 [running]:"
	line, _, _ := strings.Cut(stack, "\n")
	f := strings.Fields(line)
	if len(f) < 2 {
		return line
	}
	return f[1]
}

// Goroutines of the test framework and the runtime, by their top frame.
var ignoredTop = []string{
	"testing.(*T).Run",
	"testing.(*T).Parallel",
	"testing.(*M).",
	"testing.tRunner",
	"testing.runFuzzing",
}

// Goroutines of the runtime's signal handling, anywhere in the stack.
var ignoredAnywhere = []string{
	"os/signal.signal_recv",
	"runtime.ensureSigM",
}

func ignored(stack string) bool {
	_, body, _ := strings.Cut(stack, "\n")
	for _, f := range ignoredTop {
		if strings.HasPrefix(body, f) {
			return true
		}
	}
	for _, f := range ignoredAnywhere {
		if strings.Contains(stack, f) {
			return true
		}
	}
	return false
}
