package gateway_test

import (
	"flag"
	"os"
	"testing"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/gateway"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestBuildProblems: what only the gateway can see (Lua syntax, modules,
// middleware, options, route conflicts) is reported all at once, each with
// file, line, entry and field.
func TestBuildProblems(t *testing.T) {
	cfg, err := config.LoadDir("testdata/badapp", config.StandardKinds())
	if err != nil {
		t.Fatalf("the YAML itself is valid: %v", err)
	}
	// A module error hides the syntax error in Build (one problem per
	// entry); CheckLua reports per source the same way.
	_, err = gateway.Build(cfg, gateway.Options{})
	if err == nil {
		t.Fatal("a broken app was built")
	}
	got := err.Error() + "\n"
	if *update {
		os.WriteFile("testdata/badapp.golden", []byte(got), 0o644)
	}
	want, err := os.ReadFile("testdata/badapp.golden")
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got != string(want) {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
