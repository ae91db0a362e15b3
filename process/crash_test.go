package process_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// A process that fails with nobody monitoring or linked to it gets one
// crash report naming its pid, entry and error; one whose failure someone
// hears of, or that ends normally or is terminated, gets none.
func TestCrashReport(t *testing.T) {
	t.Parallel()
	logs := &testlog.Buffer{}
	n := newNode(t, nil, &process.Options{Logger: logger(logs), CrashReports: 1000})
	fail := func(opts process.SpawnOptions, err error) *probe {
		pr := spawnProbe(t, n, opts)
		pr.exit(value.Nil(), err)
		gone(t, n, pr.pid)
		return pr
	}
	lonely := fail(process.SpawnOptions{Entry: "app:lonely"}, errors.New("boom\nstack traceback:\n\tx.lua:3"))
	poll.Until(t, timeout, "the crash report", func() bool { return strings.Contains(logs.String(), "process crashed") })
	line := logs.String()
	for _, want := range []string{"level=ERROR", "pid=" + lonely.pid.String(), "entry=app:lonely", `error="boom\nstack traceback:\n\tx.lua:3"`} {
		if !strings.Contains(line, want) {
			t.Errorf("crash report %q lacks %q", line, want)
		}
	}
	if strings.Count(line, "\n") != 1 {
		t.Errorf("a crash report is one line, got %q", line)
	}

	// Nothing for these.
	w := spawnProbe(t, n, process.SpawnOptions{})
	watched := spawnProbe(t, n, process.SpawnOptions{Entry: "app:watched"})
	w.run(t, func(p *process.Process) error { return p.Monitor(watched.pid) })
	watched.exit(value.Nil(), errors.New("heard of"))
	w.nextEvent(t)
	trapper := spawnProbe(t, n, process.SpawnOptions{})
	trapper.run(t, func(p *process.Process) error { p.SetTrapLinks(true); return nil })
	linked := spawnProbe(t, n, process.SpawnOptions{Parent: trapper.pid, Link: true, Entry: "app:linked"})
	linked.exit(value.Nil(), errors.New("heard of"))
	trapper.nextEvent(t)
	fail(process.SpawnOptions{Entry: "app:normal"}, nil)
	fail(process.SpawnOptions{Entry: "app:quiet", Quiet: true}, errors.New("quiet"))
	term := spawnProbe(t, n, process.SpawnOptions{Entry: "app:terminated"})
	n.Terminate(term.pid)
	gone(t, n, term.pid)
	// A process killed through a link is reported, with the cause.
	victim := spawnProbe(t, n, process.SpawnOptions{Entry: "app:victim"})
	fail(process.SpawnOptions{Parent: victim.pid, Link: true, Entry: "app:culprit"}, errors.New("root cause"))
	gone(t, n, victim.pid)
	poll.Until(t, timeout, "the victim's crash report", func() bool { return strings.Contains(logs.String(), "entry=app:victim") })
	got := logs.String()
	for _, entry := range []string{"app:watched", "app:linked", "app:normal", "app:quiet", "app:terminated", "app:culprit"} {
		if strings.Contains(got, "entry="+entry) {
			t.Errorf("crash report for %s:\n%s", entry, got)
		}
	}
	if !strings.Contains(got, `cause="root cause"`) {
		t.Errorf("the link-down crash report does not give the cause:\n%s", got)
	}
	if c := strings.Count(got, "process crashed"); c != 2 {
		t.Errorf("%d crash reports, want 2:\n%s", c, got)
	}
}

// A crash loop is limited: past the limit, reports are counted, and the
// count is logged with the next report that gets through.
func TestCrashReportsAreLimited(t *testing.T) {
	t.Parallel()
	logs := &testlog.Buffer{}
	n := newNode(t, nil, &process.Options{Logger: logger(logs), CrashReports: 3})
	for range 50 {
		pr := spawnProbe(t, n, process.SpawnOptions{Entry: "app:loop"})
		pr.exit(value.Nil(), errors.New("crash"))
		gone(t, n, pr.pid)
	}
	// 50 crashes take far less than the 16 s that 3 a second would need
	// to log them all.
	if c := strings.Count(logs.String(), "process crashed"); c < 3 || c >= 48 {
		t.Fatalf("%d of 50 crashes reported with a limit of 3 a second:\n%s", c, logs.String())
	}
	// The next second, the count of the suppressed ones comes first.
	poll.Until(t, timeout, "the count of suppressed reports", func() bool {
		pr := spawnProbe(t, n, process.SpawnOptions{Entry: "app:loop"})
		pr.exit(value.Nil(), errors.New("crash"))
		gone(t, n, pr.pid)
		return strings.Contains(logs.String(), "crash reports suppressed")
	})
}

// gone waits until p has ended, without watching it (a monitor would
// make its end heard of).
func gone(t *testing.T, n *process.Node, p pid.PID) {
	t.Helper()
	poll.Until(t, timeout, p.String()+" to end", func() bool { return !n.Alive(p) })
}
