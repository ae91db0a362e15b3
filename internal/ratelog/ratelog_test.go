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
