package lua

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// wsrelay patch: os.date's formatting makes each directive once and its
// result in one buffer: a format of 1.25 million "%c" allocated about
// seven times its 22 MB result.
func TestStrftimeAllocation(t *testing.T) {
	tm := time.Date(2026, 12, 7, 15, 4, 5, 0, time.UTC)
	if got := strftime(tm, "%Y-%m-%d %H:%M:%S %w"); got != "2026-12-07 15:04:05 1" {
		t.Fatalf("strftime: %q", got)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out := strftime(tm, strings.Repeat("%c", 1250000))
	runtime.ReadMemStats(&after)
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(3*len(out)); got > limit {
		t.Errorf("a %d-byte result allocated %d bytes, more than %d", len(out), got, limit)
	}
}
