package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// wsrelay check on Lua source nested a million levels deep (2 MB of "{")
// or chained a hundred thousand operators long reports a problem with the
// file and line. Each runs in a child process (this test binary as the
// wsrelay command), since the compiler's recursion once overflowed the Go
// stack: a fatal error that killed check.
func TestCheckReportsDeeplyNestedLua(t *testing.T) {
	for _, tc := range []struct {
		name, code, want string
	}{
		{"nested tables", "local http = require(\"http\")\nreturn { handler = function() return " +
			strings.Repeat("{", 1000000) + strings.Repeat("}", 1000000) + " end }", "ping.lua:2: entry app:ping_fn: source: Lua syntax error"},
		{"operator chain", "local http = require(\"http\")\n\nreturn { handler = function() return 1" +
			strings.Repeat(" .. 1", 100000) + " end }", "ping.lua:3: entry app:ping_fn: source: Lua syntax error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeApp(t, map[string]string{"_index.yaml": smallApp["_index.yaml"], "ping.lua": tc.code})
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "WSRELAY_TEST_MAIN=check "+dir)
			out, err := cmd.CombinedOutput()
			if len(out) > 4000 { // a Go stack overflow dumps the whole stack
				out = append(out[:4000], "…"...)
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("check: %v, want exit status 1 (a problem)\n%s", err, out)
			}
			for _, want := range []string{tc.want, "chunk has too many syntax levels"} {
				if !strings.Contains(string(out), want) {
					t.Errorf("check output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}
