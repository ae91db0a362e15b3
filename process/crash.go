package process

import (
	"errors"
	"log/slog"

	"github.com/wsrelay/wsrelay/internal/logtext"
	"github.com/wsrelay/wsrelay/pid"
)

// DefaultCrashReports is how many crash reports a node logs per second
// unless Options.CrashReports says otherwise.
const DefaultCrashReports = 10

// Crash reports: a process that ends abnormally with nobody to hear of it
// (no monitor, no link) would fail silently, so the node logs one error
// line for it, like Erlang's crash report: "process crashed" with its pid,
// its entry (SpawnOptions.Entry) and the error (for a Lua process, the
// message and the traceback). Not reported: normal ends, ErrTerminated
// (someone ended it on purpose), panics (logged when they happen), and
// processes spawned with SpawnOptions.Quiet.
//
// The lines are limited per node: at most Options.CrashReports a second;
// the ones past that are counted, and the next line that gets through is
// preceded by one saying how many were suppressed. A crash loop therefore
// costs a few lines a second, never a flood.

// maxReportText bounds the error text of one crash report.
const maxReportText = 8 << 10

// reportCrash logs the crash report of p, which ended with r, when nobody
// else will hear of it. rel is what exit took from p's relations.
func (n *Node) reportCrash(p *Process, r Result, rel [relKinds][]pid.PID) {
	if r.Err == nil || len(rel[relWatchers]) > 0 || len(rel[relLinks]) > 0 ||
		errors.Is(r.Err, ErrTerminated) && !errors.Is(r.Err, ErrLinkDown) || errors.Is(r.Err, ErrPanic) {
		return
	}
	attrs := []any{"pid", p.pid.String()}
	if p.entry != nil {
		attrs = append(attrs, "entry", *p.entry)
	}
	// A Lua error's message is the script's to choose: cut, like every
	// text a script puts in the log.
	attrs = append(attrs, "error", logtext.Cut(r.Err.Error(), maxReportText))
	var ld *LinkDownError
	if errors.As(r.Err, &ld) && ld.Reason != nil {
		attrs = append(attrs, "cause", logtext.Cut(ld.Reason.Error(), maxReportText))
	}
	n.LogFailure(n.log, "process crashed", attrs...)
}

// LogFailure logs msg with args at error level on l, within the node's
// crash-report limit (Options.CrashReports): past the limit the line is
// counted, and the count is logged with the next line that gets through.
// The WebSocket relay logs its targets' failures through it, so a hub
// failing under a thousand clients costs a few lines, not a thousand.
func (n *Node) LogFailure(l *slog.Logger, msg string, args ...any) {
	n.crashes.Log(l, slog.LevelError, "crash reports", msg, args...)
}
