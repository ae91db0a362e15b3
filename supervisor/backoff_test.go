package supervisor

import (
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// The restart delays grow by the factor up to max_delay, which holds even
// for a factor whose power overflows; jitter spreads them by up to its
// fraction either way.
func TestRestartDelays(t *testing.T) {
	for _, tc := range []struct {
		initial, max time.Duration
		factor       float64
		n            int
		want         time.Duration
	}{
		{100 * time.Millisecond, time.Minute, 2, 1, 100 * time.Millisecond},
		{100 * time.Millisecond, time.Minute, 2, 4, 800 * time.Millisecond},
		{100 * time.Millisecond, time.Second, 2, 5, time.Second},
		{time.Second, time.Hour, 1e300, 3, time.Hour},
		{time.Second, time.Hour, 1, 1000, time.Second},
	} {
		if got := backoff(tc.initial, tc.max, tc.factor, tc.n); got != tc.want {
			t.Errorf("backoff(%v, %v, %v, %d) = %v, want %v", tc.initial, tc.max, tc.factor, tc.n, got, tc.want)
		}
	}
	for _, tc := range []struct {
		jitter, u float64
		want      time.Duration
	}{
		{0, 0.9, time.Second},
		{0.5, 0, 500 * time.Millisecond},
		{0.5, 0.5, time.Second},
		{1, 0.75, 1500 * time.Millisecond},
	} {
		if got := withJitter(time.Second, tc.jitter, tc.u); got != tc.want {
			t.Errorf("withJitter(1s, %v, %v) = %v, want %v", tc.jitter, tc.u, got, tc.want)
		}
	}
}
