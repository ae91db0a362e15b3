// Package examples_test runs the example apps the README points to: a Go
// client against the chat's protocol, and headless Chromium against its
// page.
package examples_test

import (
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/testlog"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const timeout = 15 * time.Second

// startExample serves an example app on a free port until the test ends
// and returns the address of its service.
func startExample(t testing.TB, dir, service string) (string, *gateway.App, *testlog.Buffer) {
	t.Helper()
	app, logs := apptest.Start(t, dir)
	return apptest.Addr(t, app, service), app, logs
}
