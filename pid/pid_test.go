package pid_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/pid"
)

func TestParseValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want pid.PID
	}{
		{"{n1@app:processes|42}", pid.PID{Node: "n1", Host: "app:processes", ID: 42}},
		{"{app:processes|42}", pid.PID{Host: "app:processes", ID: 42}},
		{"{n1@h|18446744073709551615}", pid.PID{Node: "n1", Host: "h", ID: 18446744073709551615}},
		{"{node.example-1@a.b:c_d|7}", pid.PID{Node: "node.example-1", Host: "a.b:c_d", ID: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := pid.Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Fatalf("String() = %q, want %q", s, tt.in)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, wantMsg string
	}{
		{"", "enclosed in braces"},
		{"n1@h|1", "enclosed in braces"},
		{"{n1@h|1", "enclosed in braces"},
		{"{n1@h}", "missing '|'"},
		{"{n1@h|}", "empty id"},
		{"{n1@h|abc}", "not a decimal number"},
		{"{n1@h|-1}", "not a decimal number"},
		{"{n1@h|+1}", "not a decimal number"},
		{"{n1@h|18446744073709551616}", "not a decimal number"},
		{"{n1@h|0}", "must not be 0"},
		{"{@h|1}", "empty node name"},
		{"{n1@|1}", "empty host name"},
		{"{|1}", "empty host name"},
		{"{n 1@h|1}", "space or control"},
		{"{n1@h\x00|1}", "space or control"},
		{"{n1@h@x|1}", "reserved character '@'"},
		{"{n1@h{|1}", "reserved character '{'"},
		{"{n1@h|x|1}", "reserved character '|'"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := pid.Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) succeeded, want error containing %q", tt.in, tt.wantMsg)
			}
			if !errors.Is(err, pid.ErrSyntax) {
				t.Fatalf("error %v does not match ErrSyntax", err)
			}
			var se *pid.SyntaxError
			if !errors.As(err, &se) || se.Input != tt.in {
				t.Fatalf("error %v is not a *SyntaxError for the input", err)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("error %q does not say %q", err, tt.wantMsg)
			}
		})
	}
}

func TestZeroPID(t *testing.T) {
	t.Parallel()
	var p pid.PID
	if !p.IsZero() || p.String() != "{}" {
		t.Fatalf("zero PID: IsZero=%v String=%q", p.IsZero(), p.String())
	}
	if _, err := pid.Parse(p.String()); err == nil {
		t.Fatal("the zero PID's text must not parse as a PID")
	}
}

func TestTextMarshaling(t *testing.T) {
	t.Parallel()
	p := pid.PID{Node: "n", Host: "h", ID: 9}
	b, err := p.MarshalText()
	if err != nil || string(b) != "{n@h|9}" {
		t.Fatalf("MarshalText = %q, %v", b, err)
	}
	var q pid.PID
	if err := q.UnmarshalText(b); err != nil || q != p {
		t.Fatalf("UnmarshalText = %v, %v", q, err)
	}
	if err := q.UnmarshalText([]byte("nope")); !errors.Is(err, pid.ErrSyntax) {
		t.Fatalf("UnmarshalText(bad) = %v, want ErrSyntax", err)
	}
}

func TestValidNames(t *testing.T) {
	t.Parallel()
	if err := pid.ValidNodeName("n1"); err != nil {
		t.Fatal(err)
	}
	if err := pid.ValidHostName("app:processes"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"", "a b", "a|b", "a@b", "{a}"} {
		if pid.ValidNodeName(bad) == nil || pid.ValidHostName(bad) == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}

func TestGeneratorNeverRepeats(t *testing.T) {
	t.Parallel()
	g := pid.NewGenerator(time.Unix(1000, 0))
	seen := make(map[uint64]bool)
	var last uint64
	for range 10000 {
		id := g.Next()
		if id == 0 || seen[id] || id <= last {
			t.Fatalf("id %d repeated or not increasing (last %d)", id, last)
		}
		seen[id] = true
		last = id
	}
}

func TestGeneratorConcurrent(t *testing.T) {
	t.Parallel()
	g := pid.NewGenerator(time.Now())
	const workers, each = 8, 2000
	ch := make(chan uint64, workers*each)
	done := make(chan struct{})
	for range workers {
		go func() {
			for range each {
				ch <- g.Next()
			}
			done <- struct{}{}
		}()
	}
	for range workers {
		<-done
	}
	close(ch)
	seen := make(map[uint64]bool)
	for id := range ch {
		if seen[id] {
			t.Fatalf("id %d handed out twice", id)
		}
		seen[id] = true
	}
}

// A restarted node boots later than the previous incarnation; even if that
// incarnation handed out an id every nanosecond of its life, the new one
// starts above all of them.
func TestGeneratorRestartDoesNotReissue(t *testing.T) {
	t.Parallel()
	boot := time.Unix(1_700_000_000, 0)
	first := pid.NewGenerator(boot)
	var last uint64
	for range 100000 { // 100k ids "in" the 1 ms the first incarnation lived
		last = first.Next()
	}
	restarted := pid.NewGenerator(boot.Add(time.Millisecond))
	if id := restarted.Next(); id <= last {
		t.Fatalf("restarted node's first id %d <= previous incarnation's last id %d", id, last)
	}
}
