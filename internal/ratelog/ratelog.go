// Package ratelog bounds how many lines one source writes to the log: a
// client, a script or a crash loop must not be able to fill the disk or
// drown the lines that matter. Past the limit lines are counted, not
// written, and the next line that gets through is preceded by one saying
// how many were suppressed, so nothing disappears without a trace.
package ratelog

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// Limiter lets through at most a number of lines per second. The zero
// Limiter lets nothing through; use New.
type Limiter struct {
	mu         sync.Mutex
	max        int
	now        func() time.Time
	window     time.Time // start of the current second
	used       int       // lines let through in it
	suppressed int       // lines refused since the last one let through
}

// New returns a Limiter of perSecond lines a second (0: none).
func New(perSecond int) *Limiter { return NewAt(perSecond, time.Now) }

// NewAt is New with its own clock, for tests.
func NewAt(perSecond int, now func() time.Time) *Limiter {
	return &Limiter{max: perSecond, now: now}
}

// Allow reports whether a line may be written now and, when it may, how
// many were refused before it (which the caller reports).
func (l *Limiter) Allow() (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t := l.now(); t.Sub(l.window) >= time.Second {
		l.window, l.used = t, 0
	}
	if l.used >= l.max {
		l.suppressed++
		return false, 0
	}
	l.used++
	suppressed, l.suppressed = l.suppressed, 0
	return true, suppressed
}

// Log writes msg with args at level on lg if the limit allows, after a
// line "N <what> suppressed" when lines were refused since the last one
// written. what names the kind of line ("crash reports", "client errors").
func (l *Limiter) Log(lg *slog.Logger, level slog.Level, what, msg string, args ...any) {
	if !lg.Enabled(context.Background(), level) {
		return
	}
	ok, suppressed := l.Allow()
	if suppressed > 0 {
		lg.Log(context.Background(), level, strconv.Itoa(suppressed)+" "+what+" suppressed", "suppressed", suppressed)
	}
	if ok {
		lg.Log(context.Background(), level, msg, args...)
	}
}
