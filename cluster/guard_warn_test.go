package cluster

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/ratelog"
	"github.com/wsrelay/wsrelay/internal/testlog"
)

// TestGuardWarningsBackOff: a bucket whose checks keep failing (a
// JetStream that does not answer, say) is logged at the 1st, 2nd, 4th,
// 8th... failing check in a row, not at every check; a check that goes
// through starts the count again.
func TestGuardWarningsBackOff(t *testing.T) {
	logs, log := testlog.New(slog.LevelInfo)
	nm := NewNames(&Transport{log: log})
	nm.warnings = ratelog.New(ratelog.NoLimit) // the per-second bound is ratelog's, tested there
	for range 20 {
		nm.warn("cluster: cannot check the names bucket; trying again")
		nm.endCheck()
	}
	if n := strings.Count(logs.String(), "cannot check"); n != 5 {
		t.Fatalf("%d lines for 20 failing checks, want 5 (the 1st, 2nd, 4th, 8th and 16th):\n%s", n, logs.String())
	}
	nm.endCheck() // one goes through
	nm.warn("cluster: cannot check the names bucket; trying again")
	if n := strings.Count(logs.String(), "cannot check"); n != 6 {
		t.Fatalf("after a check that went through, the next failure is not logged:\n%s", logs.String())
	}
}
