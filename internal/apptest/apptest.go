// Package apptest serves app directories in tests.
package apptest

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/testlog"
)

// Start copies the app in dir (symlinks as symlinks), moves every http.service written with
// "addr: 127.0.0.1:<port>" to a free port, builds and starts it, and shuts
// it down when the test ends. It returns the app and its log.
func Start(t testing.TB, dir string) (*gateway.App, *testlog.Buffer) {
	t.Helper()
	return StartWith(t, dir, gateway.Options{}, nil)
}

// StartWith is Start with the app's options (their Logger is the returned
// log's); before, when not nil, runs between Build and Start (to join the
// app's node to a cluster, say).
func StartWith(t testing.TB, dir string, opts gateway.Options, before func(*gateway.App)) (*gateway.App, *testlog.Buffer) {
	t.Helper()
	return StartLogging(t, dir, slog.LevelInfo, opts, before)
}

// StartLogging is StartWith with the log at level rather than info.
func StartLogging(t testing.TB, dir string, level slog.Level, opts gateway.Options, before func(*gateway.App)) (*gateway.App, *testlog.Buffer) {
	t.Helper()
	tmp := t.TempDir()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		target := filepath.Join(tmp, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if d.Type()&fs.ModeSymlink != 0 { // kept as a link: tests of where links may lead
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if d.Name() == config.IndexFile {
			b = []byte(freePorts(string(b)))
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadDir(tmp, config.StandardKinds())
	if err != nil {
		t.Fatal(err)
	}
	logs, log := testlog.New(level)
	opts.Logger = log
	app, err := gateway.Build(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if before != nil {
		before(app)
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := app.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return app, logs
}

// freePorts rewrites "addr: 127.0.0.1:<port>" lines, and addr lines of an
// environment reference with such a default ("${env:ADDR:-127.0.0.1:8080}"),
// to port 0.
func freePorts(yaml string) string {
	lines := strings.Split(yaml, "\n")
	for i, l := range lines {
		head, val, ok := strings.Cut(l, "addr: ")
		if ok && strings.TrimSpace(head) == "" && (strings.HasPrefix(val, "127.0.0.1:") || strings.Contains(val, ":-127.0.0.1:")) {
			lines[i] = head + "addr: 127.0.0.1:0"
		}
	}
	return strings.Join(lines, "\n")
}

// Addr returns the host:port an http.service of a started app listens on.
func Addr(t testing.TB, app *gateway.App, service string) string {
	t.Helper()
	a, ok := app.Addr(service)
	if !ok {
		t.Fatalf("%s is not listening", service)
	}
	return a.String()
}
