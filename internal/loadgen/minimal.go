package loadgen

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/lxzan/gws"
)

// EchoMinimal is the run of Echo done by the smallest client that can do
// it on the gws library, with its defaults: per connection, one goroutine
// writes the messages (one WriteMessage each) and gws's read loop counts
// the echoes. It is there to show what the load tool itself costs
// (`wsrelay bench echo --client gws`): if Echo is much slower against the
// same server, the tool is the bottleneck and every ratio it reports is
// flattered. It reports no progress and checks only that each echo has
// the size sent.
func EchoMinimal(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(50, 2000, 64); err != nil {
		return Result{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	hs := make([]*minimalHandler, o.Conns)
	conns, err := dialAll(ctx, &o, o.Conns, func(i int, u string) (*gws.Conn, error) {
		hs[i] = &minimalHandler{want: o.Messages, size: o.Size, done: make(chan struct{})}
		c, _, err := gws.NewClient(hs[i], &gws.ClientOption{Addr: u})
		return c, err
	}, func(c *gws.Conn) { c.WriteClose(1000, nil); c.NetConn().Close() })
	if err != nil {
		return Result{}, err
	}
	stop := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.NetConn().Close()
		}
	})
	defer stop()
	defer func() {
		for _, c := range conns {
			c.WriteClose(1000, nil)
			c.NetConn().Close()
		}
	}()
	msg := []byte(strings.Repeat("x", o.Size))
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range conns {
		h := hs[i]
		wg.Add(2)
		go func() {
			defer wg.Done()
			c.ReadLoop()
		}()
		go func() {
			defer wg.Done()
			for range o.Messages {
				if err := c.WriteMessage(gws.OpcodeText, msg); err != nil {
					h.fail(err)
					return
				}
			}
			<-h.done
			c.NetConn().Close() // ends the read loop
		}()
	}
	var firstErr error
	for _, h := range hs {
		<-h.done
		if firstErr == nil {
			firstErr = h.err
		}
	}
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		return Result{}, firstErr
	}
	total := o.Conns * o.Messages
	return Result{Mode: "echo", URL: o.URL, Conns: o.Conns, Messages: o.Messages, Size: o.Size, Elapsed: elapsed, Rate: float64(total) / elapsed.Seconds(), Client: "gws", ToolCPU: cpu}, nil
}

// minimalHandler counts one connection's echoes; done is closed when all
// arrived or the connection failed first.
type minimalHandler struct {
	gws.BuiltinEventHandler
	want int
	size int
	got  int // read loop only
	err  error
	once sync.Once
	done chan struct{}
}

func (h *minimalHandler) fail(err error) {
	h.once.Do(func() {
		h.err = err
		close(h.done)
	})
}

func (h *minimalHandler) OnMessage(c *gws.Conn, m *gws.Message) {
	n := m.Data.Len()
	m.Close()
	if n != h.size {
		h.fail(fmt.Errorf("an echo of %d bytes, sent %d", n, h.size))
		return
	}
	h.got++
	if h.got == h.want {
		h.once.Do(func() { close(h.done) })
	}
}

func (h *minimalHandler) OnClose(c *gws.Conn, err error) {
	if err == nil {
		err = errors.New("connection closed")
	}
	h.fail(fmt.Errorf("connection closed after %d of %d echoes: %w", h.got, h.want, err))
}
