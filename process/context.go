package process

import (
	"context"
	"time"
)

// procContext is the context of a blocking process: done when the process
// ends. It is a closed-over channel rather than context.WithCancel because
// a cancelCtx's first cancel stores into an atomic.Value, which grew the
// stack of every exiting goroutine and cost a quarter of spawn+exit time.
type procContext struct {
	done   chan struct{}
	notify func() // a scheduled process's wake (SpawnScheduled)
}

func newProcContext() *procContext { return &procContext{done: make(chan struct{})} }

func (c *procContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c *procContext) Done() <-chan struct{}       { return c.done }
func (c *procContext) Value(any) any               { return nil }

func (c *procContext) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

// cancel closes done; the caller makes sure it runs once (Process.exit does).
func (c *procContext) cancel() {
	close(c.done)
	if c.notify != nil {
		c.notify()
	}
}
