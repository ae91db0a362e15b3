package pid_test

import (
	"testing"

	"github.com/wsrelay/wsrelay/pid"
)

// FuzzParse checks that Parse never panics and that every PID it accepts
// formats back to text that parses to the same PID.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"{n1@app:processes|42}", "{h|1}", "{}", "{a@b|0}", "{a@@b|1}", "{|}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := pid.Parse(s)
		if err != nil {
			return
		}
		q, err := pid.Parse(p.String())
		if err != nil {
			t.Fatalf("Parse(%q) = %v, but its text %q does not parse: %v", s, p, p.String(), err)
		}
		if q != p {
			t.Fatalf("round trip of %q: %v != %v", s, q, p)
		}
	})
}
