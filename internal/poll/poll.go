// Package poll waits for conditions in tests with a deadline, instead of
// sleeping for a guessed time.
package poll

import (
	"testing"
	"time"
)

// Until calls cond until it returns true, failing t with msg if it has not
// within timeout.
func Until(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := 100 * time.Microsecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v: %s", timeout, msg)
		}
		time.Sleep(wait)
		wait = min(2*wait, 20*time.Millisecond)
	}
}
