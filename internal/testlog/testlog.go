// Package testlog collects log output in tests.
package testlog

import (
	"bytes"
	"log/slog"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent use, for slog handlers
// written to by several goroutines while a test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// New returns a buffer and a text logger writing to it at level.
func New(level slog.Level) (*Buffer, *slog.Logger) {
	b := &Buffer{}
	return b, slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: level}))
}
