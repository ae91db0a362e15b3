package gateway

import (
	"log"
	"log/slog"
	"strings"

	"github.com/wsrelay/wsrelay/internal/logtext"
	"github.com/wsrelay/wsrelay/internal/ratelog"
)

// Lines that clients (or scripts, through them) can cause at will go
// through a limit of ratelog.PerSecond lines a second per entry, past
// which they are counted in a line "N <kind> suppressed" (docs/config.md,
// "Log lines"). The kinds, as those lines name them:
const (
	requestLines  = "lines about HTTP requests"               // an http.service: refused hosts, net/http's errors
	staticLines   = "lines about refused static files"        // an http.static
	relayHdrLines = "lines about stripped X-WS-Relay headers" // an http.endpoint
	// a process.service's restarts: supervisor's restartLines
)

// maxLogRequest bounds what a client sent (a host, a path) quoted in a
// log line.
const maxLogRequest = 256

// limited returns a Logger of lg with a limit of its own for lines of
// kind what.
func limited(lg *slog.Logger, what string) *ratelog.Logger {
	return ratelog.New(ratelog.PerSecond).Logger(lg, what)
}

// errorLog is the ErrorLog of an http.service's server: net/http writes
// there what a request made go wrong (a query with a semicolon, a
// handler's panic, a broken TLS handshake…), so it goes through the
// service's limit, at warn level, cut.
func errorLog(l *ratelog.Logger) *log.Logger {
	return log.New(errorWriter{l}, "", 0)
}

type errorWriter struct{ l *ratelog.Logger }

func (w errorWriter) Write(p []byte) (int, error) {
	w.l.Warn(logtext.Cut(strings.TrimSpace(string(p)), 1024))
	return len(p), nil
}
