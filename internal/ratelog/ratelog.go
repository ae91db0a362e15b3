// Package ratelog bounds how many lines one source writes to the log: a
// client, a script or a crash loop must not be able to fill the disk or
// drown the lines that matter. Past the limit lines are counted, not
// written, and the next line that gets through is preceded by one saying
// how many were suppressed, so nothing disappears without a trace.
//
// A Limiter counts; a Logger is a Limiter bound to a *slog.Logger and to
// the name of its kind of line, with the usual Debug/Info/Warn/Error; a
// Group hands out a Logger per key (an entry, a route), so that one
// source cannot use up another's lines.
package ratelog

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// PerSecond is the limit of most kinds of lines that clients and scripts
// can cause, per source: enough to see what goes on, too few to fill a disk.
const PerSecond = 20

// NoLimit, as a number of lines a second, lets every line through.
const NoLimit = -1

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

// New returns a Limiter of perSecond lines a second (0: none; negative,
// such as NoLimit: every line).
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
	if l.max < 0 {
		return true, 0
	}
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
// A line below lg's level is neither written nor counted.
func (l *Limiter) Log(lg *slog.Logger, level slog.Level, what, msg string, args ...any) {
	if l.allow(lg, level, what) {
		lg.Log(context.Background(), level, msg, args...)
	}
}

// LogAttrs is Log with attributes.
func (l *Limiter) LogAttrs(lg *slog.Logger, level slog.Level, what, msg string, attrs ...slog.Attr) {
	if l.allow(lg, level, what) {
		lg.LogAttrs(context.Background(), level, msg, attrs...)
	}
}

// allow reports whether a line at level may be written on lg, and writes
// the "suppressed" line before it when there is one to write.
func (l *Limiter) allow(lg *slog.Logger, level slog.Level, what string) bool {
	if !lg.Enabled(context.Background(), level) {
		return false
	}
	ok, suppressed := l.Allow()
	if suppressed > 0 {
		lg.LogAttrs(context.Background(), level, strconv.Itoa(suppressed)+" "+what+" suppressed", slog.Int("suppressed", suppressed))
	}
	return ok
}

// Logger writes through a Limiter: lines past its limit are counted, and
// the line that reports them names them what. Make one with
// (*Limiter).Logger or a Group.
type Logger struct {
	log  *slog.Logger
	lim  *Limiter
	what string
}

// Logger returns a Logger writing on lg through l, its lines named what
// ("websocket client lines") in the "suppressed" line.
func (l *Limiter) Logger(lg *slog.Logger, what string) *Logger {
	return &Logger{log: lg, lim: l, what: what}
}

// Enabled reports whether lg writes lines at level (limit aside): a
// caller skips building a costly line that would not be written.
func (l *Logger) Enabled(level slog.Level) bool {
	return l.log.Enabled(context.Background(), level)
}

// Log writes a line at level if the limit allows.
func (l *Logger) Log(level slog.Level, msg string, args ...any) {
	l.lim.Log(l.log, level, l.what, msg, args...)
}

// LogAttrs writes a line at level, with attributes, if the limit allows.
func (l *Logger) LogAttrs(level slog.Level, msg string, attrs ...slog.Attr) {
	l.lim.LogAttrs(l.log, level, l.what, msg, attrs...)
}

// Debug, Info, Warn and Error are Log at their level.
func (l *Logger) Debug(msg string, args ...any) { l.Log(slog.LevelDebug, msg, args...) }
func (l *Logger) Info(msg string, args ...any)  { l.Log(slog.LevelInfo, msg, args...) }
func (l *Logger) Warn(msg string, args ...any)  { l.Log(slog.LevelWarn, msg, args...) }
func (l *Logger) Error(msg string, args ...any) { l.Log(slog.LevelError, msg, args...) }

// MaxGroupKeys bounds the Loggers of a Group; the keys past it share one.
const MaxGroupKeys = 1024

// Group gives each key its own Logger of perSecond lines a second, whose
// lines (the "suppressed" ones too) carry the key as attribute attr: one
// noisy entry then cannot silence another's lines. Keys are names from
// the configuration (entry ids, routes), never text from a client; past
// MaxGroupKeys of them, the others share one limit (their lines still
// carry their keys).
type Group struct {
	log       *slog.Logger
	what      string
	attr      string
	perSecond int
	now       func() time.Time

	mu   sync.Mutex
	m    map[string]*Logger
	rest *Limiter // of the keys past MaxGroupKeys
}

// NewGroup returns a Group writing on lg; what names its lines in the
// "suppressed" line, attr is the attribute that carries the key.
func NewGroup(lg *slog.Logger, what, attr string, perSecond int) *Group {
	return NewGroupAt(lg, what, attr, perSecond, time.Now)
}

// NewGroupAt is NewGroup with its own clock, for tests.
func NewGroupAt(lg *slog.Logger, what, attr string, perSecond int, now func() time.Time) *Group {
	return &Group{log: lg, what: what, attr: attr, perSecond: perSecond, now: now, m: map[string]*Logger{}}
}

// Get returns the Logger of key, made on first use.
func (g *Group) Get(key string) *Logger {
	g.mu.Lock()
	defer g.mu.Unlock()
	if l, ok := g.m[key]; ok {
		return l
	}
	if len(g.m) >= MaxGroupKeys {
		if g.rest == nil {
			g.rest = NewAt(g.perSecond, g.now)
		}
		return g.rest.Logger(g.log.With(g.attr, key), g.what) // not kept
	}
	l := NewAt(g.perSecond, g.now).Logger(g.log.With(g.attr, key), g.what)
	g.m[key] = l
	return l
}
