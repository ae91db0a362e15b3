// Package examples_test runs the example apps the README points to: a Go
// client against the chat's protocol, and headless Chromium against its
// page.
package examples_test

import (
	"context"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/leakcheck"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const timeout = 15 * time.Second

type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startExample copies an example app, points its http.service at a free
// port on 127.0.0.1, and serves it until the test ends. It returns the
// service's host:port.
func startExample(t testing.TB, dir, service string) (string, *gateway.App, *logBuffer) {
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
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if d.Name() == config.IndexFile {
			b = []byte(strings.ReplaceAll(string(b), "addr: 127.0.0.1:8080", "addr: 127.0.0.1:0"))
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
	logs := &logBuffer{}
	app, err := gateway.Build(cfg, gateway.Options{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := app.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	addr, _ := app.Addr(service)
	return addr.String(), app, logs
}
