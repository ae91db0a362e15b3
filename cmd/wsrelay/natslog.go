package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/internal/ratelog"
)

// natsLinesPerSecond bounds the lines the NATS client and the embedded
// server write together: a flapping route or a reconnect loop must not
// fill the log. Past it, lines are counted and reported by the next one
// let through (internal/ratelog).
const natsLinesPerSecond = ratelog.PerSecond

// serverLog adapts the embedded nats-server's logger (server.Logger) to
// the node's slog logger: every line it writes goes through it, with
// component=nats-server. Its notices (the start-up banner, routes coming
// and going, JetStream leaders elected) are debug lines: the node logs what
// matters of them itself; warnings and errors keep their level, and a fatal
// error is an error (the server stops on its own).
//
// A server retries what fails every second or so, each retry a line (a
// route to a server that is down: one line a second per route
// connection, for as long as it stays down), so a line of the same format
// is written at most once per serverRepeat, with the count of those held
// back since; all lines together are held to natsLinesPerSecond.
type serverLog struct {
	log *slog.Logger
	lim *ratelog.Limiter

	mu      sync.Mutex
	formats map[string]*repeat // by format; at most maxFormats

	fatal atomic.Pointer[string] // the first fatal error's text
}

type repeat struct {
	last time.Time
	held int
}

const (
	serverRepeat = 30 * time.Second
	// maxFormats bounds the formats remembered: nats-server has a few
	// hundred; past the bound, lines are held to the overall limit only.
	maxFormats = 512
)

func newServerLog(log *slog.Logger) *serverLog {
	return &serverLog{log: log.With("component", "nats-server"), lim: ratelog.New(natsLinesPerSecond), formats: map[string]*repeat{}}
}

func (l *serverLog) line(level slog.Level, format string, v []any) {
	if !l.log.Enabled(context.Background(), level) {
		return // not formatted when it would not be written
	}
	args := []any{}
	if level > slog.LevelDebug {
		now := time.Now()
		l.mu.Lock()
		r, ok := l.formats[format]
		if !ok && len(l.formats) < maxFormats {
			r = &repeat{}
			l.formats[format] = r
		}
		if r != nil && !r.last.IsZero() && now.Sub(r.last) < serverRepeat {
			r.held++
			l.mu.Unlock()
			return
		}
		if r != nil {
			if r.held > 0 {
				args = append(args, "repeats_held_back", r.held)
			}
			r.last, r.held = now, 0
		}
		l.mu.Unlock()
	}
	l.lim.Log(l.log, level, "embedded NATS lines", "nats-server: "+fmt.Sprintf(format, v...), args...)
}

func (l *serverLog) Noticef(format string, v ...any) { l.line(slog.LevelDebug, format, v) }
func (l *serverLog) Warnf(format string, v ...any)   { l.line(slog.LevelWarn, format, v) }

// Fatalf is an error line; the first also keeps its text for serve,
// since nats-server expects its logger to end the process here (it does
// so when it cannot listen for routes, say) and would go on half started.
func (l *serverLog) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.fatal.CompareAndSwap(nil, &msg)
	l.line(slog.LevelError, "%s", []any{msg})
}
func (l *serverLog) Errorf(format string, v ...any) { l.line(slog.LevelError, format, v) }
func (l *serverLog) Debugf(format string, v ...any) { l.line(slog.LevelDebug, format, v) }

// Tracef is never written: traces show every protocol message, with
// their payloads.
func (l *serverLog) Tracef(format string, v ...any) {}

// clientLogOptions route what the NATS client reports (async errors, its
// connection lost, back, closed, servers discovered, a server going into
// lame duck mode) to log, rate-limited, instead of the client's default of
// printing async errors on stderr.
func clientLogOptions(log *slog.Logger) []nats.Option {
	log = log.With("component", "nats-client")
	lim := ratelog.New(natsLinesPerSecond).Logger(log, "NATS client lines")
	return []nats.Option{
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				lim.Warn("NATS: error", "error", err.Error(), "subject", sub.Subject)
				return
			}
			lim.Warn("NATS: error", "error", err.Error())
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err == nil {
				lim.Debug("NATS: disconnected")
				return
			}
			lim.Warn("NATS: connection lost; reconnecting", "error", err.Error())
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			lim.Info("NATS: reconnected", "url", nc.ConnectedUrlRedacted())
		}),
		nats.ClosedHandler(func(nc *nats.Conn) {
			if err := nc.LastError(); err != nil {
				lim.Warn("NATS: connection closed", "error", err.Error())
				return
			}
			lim.Debug("NATS: connection closed")
		}),
		nats.DiscoveredServersHandler(func(nc *nats.Conn) {
			lim.Debug("NATS: servers discovered", "servers", len(nc.DiscoveredServers()))
		}),
		nats.LameDuckModeHandler(func(nc *nats.Conn) {
			lim.Info("NATS: the server is shutting down (lame duck mode); moving to another")
		}),
	}
}
