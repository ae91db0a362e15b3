package wsrelay

import (
	"net"
	"sync"
	"time"
)

// batchMax bounds the bytes a batch collects before they are written.
const batchMax = 64 << 10

// socket is the network connection under a gws connection. Every write to
// it gets the relay's write deadline. While the writer holds it, the frames
// gws writes are collected and reach the network in one write when it
// flushes: a burst of queued frames costs one system call instead of one
// each (the system call is most of the cost of a small frame).
type socket struct {
	net.Conn
	timeout time.Duration

	mu   sync.Mutex // orders writes: gws writes close frames from the reader too
	hold bool
	buf  *[]byte // collected frames, while holding
}

var batchBufs = sync.Pool{New: func() any { return new([]byte) }}

func (s *socket) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.hold {
		return s.writeLocked(p)
	}
	if len(*s.buf)+len(p) > batchMax {
		if err := s.flushLocked(); err != nil {
			return 0, err
		}
		if len(p) >= batchMax {
			return s.writeLocked(p)
		}
	}
	*s.buf = append(*s.buf, p...)
	return len(p), nil
}

func (s *socket) writeLocked(p []byte) (int, error) {
	_ = s.Conn.SetWriteDeadline(time.Now().Add(s.timeout))
	return s.Conn.Write(p)
}

func (s *socket) flushLocked() error {
	if len(*s.buf) == 0 {
		return nil
	}
	_, err := s.writeLocked(*s.buf)
	*s.buf = (*s.buf)[:0]
	return err
}

// holdWrites starts collecting writes.
func (s *socket) holdWrites() {
	s.mu.Lock()
	s.hold = true
	s.buf = batchBufs.Get().(*[]byte)
	s.mu.Unlock()
}

// flush writes what was collected and stops collecting.
func (s *socket) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.flushLocked()
	s.hold = false
	if cap(*s.buf) <= batchMax {
		batchBufs.Put(s.buf)
	}
	s.buf = nil
	return err
}
