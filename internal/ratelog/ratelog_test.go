package ratelog_test

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/ratelog"
	"github.com/wsrelay/wsrelay/internal/testlog"
)

func TestAllow(t *testing.T) {
	now := time.Unix(1000, 0)
	l := ratelog.NewAt(2, func() time.Time { return now })
	var got []string
	step := func() {
		ok, sup := l.Allow()
		got = append(got, fmt.Sprintf("%v/%d", ok, sup))
	}
	step()
	step()
	step()
	step() // two let through, two suppressed
	now = now.Add(999 * time.Millisecond)
	step() // same second
	now = now.Add(time.Millisecond)
	step() // a new second: through, with the count
	step()
	step()
	want := "true/0 true/0 false/0 false/0 false/0 true/3 true/0 false/0"
	if s := strings.Join(got, " "); s != want {
		t.Fatalf("got  %s\nwant %s", s, want)
	}
	if ok, _ := ratelog.New(0).Allow(); ok {
		t.Fatal("a limit of 0 let a line through")
	}
}

// TestLog: a flood of lines writes the limit's worth, then one line with
// the count of the others before the next line let through; lines below
// the logger's level are not counted at all.
func TestLog(t *testing.T) {
	now := time.Unix(1000, 0)
	l := ratelog.NewAt(3, func() time.Time { return now })
	logs, lg := testlog.New(slog.LevelInfo)
	for i := range 1000 {
		l.Log(lg, slog.LevelInfo, "client errors", "bad frame", "n", i)
		l.Log(lg, slog.LevelDebug, "client errors", "detail", "n", i)
	}
	now = now.Add(time.Second)
	l.Log(lg, slog.LevelInfo, "client errors", "bad frame", "n", "last")
	out := logs.String()
	if n := strings.Count(out, "msg=\"bad frame\""); n != 4 {
		t.Fatalf("%d lines written, want 3 and the last:\n%s", n, out)
	}
	if !strings.Contains(out, "997 client errors suppressed") || strings.Contains(out, "detail") {
		t.Fatalf("want the count of the 997 suppressed and no debug line:\n%s", out)
	}
}

// TestNoLimit: a negative limit lets every line through.
func TestNoLimit(t *testing.T) {
	l := ratelog.New(ratelog.NoLimit)
	for range 10000 {
		if ok, sup := l.Allow(); !ok || sup != 0 {
			t.Fatalf("NoLimit refused a line (%v, %d)", ok, sup)
		}
	}
}

// TestLogger: a Logger names its lines in the "suppressed" line, keeps
// the attributes of its slog.Logger on both, and counts lines of every
// level it writes against one limit.
func TestLogger(t *testing.T) {
	now := time.Unix(1000, 0)
	logs, lg := testlog.New(slog.LevelInfo)
	l := ratelog.NewAt(2, func() time.Time { return now }).Logger(lg.With("route", "app:ws"), "websocket client lines")
	l.Info("one")
	l.Warn("two")
	l.Error("three") // over the limit
	l.Debug("below the level: not counted")
	l.LogAttrs(slog.LevelInfo, "four", slog.Int("n", 4))
	now = now.Add(time.Second)
	l.LogAttrs(slog.LevelWarn, "five", slog.Int("n", 5))
	want := []string{
		`level=INFO msg=one route=app:ws`,
		`level=WARN msg=two route=app:ws`,
		`level=WARN msg="2 websocket client lines suppressed" route=app:ws suppressed=2`,
		`level=WARN msg=five route=app:ws n=5`,
	}
	got := lines(logs.String())
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !l.Enabled(slog.LevelInfo) || l.Enabled(slog.LevelDebug) {
		t.Fatal("Enabled does not follow the logger's level")
	}
}

// TestGroup: each key has its own limit, so a flood under one key leaves
// the others their lines, and every line carries its key; past
// MaxGroupKeys keys the others share one limit.
func TestGroup(t *testing.T) {
	now := time.Unix(1000, 0)
	logs, lg := testlog.New(slog.LevelInfo)
	g := ratelog.NewGroupAt(lg, "lua log lines", "entry", 3, func() time.Time { return now })
	for i := range 1000 {
		g.Get("app:noisy").Info("spam", "n", i)
	}
	g.Get("app:quiet").Error("the line that matters")
	now = now.Add(time.Second)
	g.Get("app:noisy").Info("spam", "n", "last")
	out := logs.String()
	if n := strings.Count(out, "msg=spam entry=app:noisy"); n != 4 {
		t.Fatalf("%d spam lines with their key, want 4 (3 and the last):\n%s", n, out)
	}
	for _, want := range []string{
		`level=ERROR msg="the line that matters" entry=app:quiet`,
		`level=INFO msg="997 lua log lines suppressed" entry=app:noisy suppressed=997`,
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("missing %q in\n%s", want, out)
		}
	}
	if g.Get("app:noisy") != g.Get("app:noisy") {
		t.Fatal("a key got two Loggers")
	}

	// Keys past MaxGroupKeys share one limit, and keep their keys.
	for i := range ratelog.MaxGroupKeys + 10 {
		g.Get(fmt.Sprint("k", i))
	}
	for range 3 {
		g.Get("past-1").Info("one of many")
	}
	g.Get("past-2").Info("one too many")
	out = logs.String()
	if strings.Count(out, "msg=\"one of many\" entry=past-1") != 3 || strings.Contains(out, "one too many") {
		t.Fatalf("keys past MaxGroupKeys do not share one limit:\n%s", out)
	}
}

// lines returns the log lines without their time.
func lines(out string) []string {
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if i := strings.Index(l, " level="); i >= 0 {
			l = l[i+1:]
		}
		got = append(got, l)
	}
	return got
}
