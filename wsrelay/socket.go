package wsrelay

import (
	"net"
	"sync"
	"syscall"
	"time"
)

// batchMax bounds the bytes a batch collects before they are written.
const batchMax = 64 << 10

// socket is the network connection of a client. Every write to it gets
// the relay's write deadline. While the writer holds it, small frames are
// collected and reach the network in one write when it flushes: a burst
// of queued frames costs one system call instead of one each (the system
// call is most of the cost of a small frame). A larger payload is never
// copied: its header and it go out in one vectored write.
type socket struct {
	net.Conn
	timeout time.Duration
	raw     syscall.RawConn // the descriptor, for tryWrite; nil when the connection has none (TLS)

	mu   sync.Mutex // orders writes
	hold bool
	buf  *[]byte // collected frames, while holding
}

// initRaw finds the socket's descriptor, when it has one (tryWrite).
func (s *socket) initRaw() {
	if sc, ok := s.Conn.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			s.raw = rc
		}
	}
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

// copyBelow: a frame whose payload is at most this is copied behind its
// header (one write of one buffer); a larger one is written from where
// it lies.
const copyBelow = 2048

// writeFrame writes a frame's header and payload.
func (s *socket) writeFrame(hdr, p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(p) <= copyBelow {
		if s.hold && len(*s.buf)+len(hdr)+len(p) <= batchMax {
			*s.buf = append(append(*s.buf, hdr...), p...)
			return nil
		}
		if err := s.flushLocked(); err != nil {
			return err
		}
		b := batchBufs.Get().(*[]byte)
		*b = append(append((*b)[:0], hdr...), p...)
		_, err := s.writeLocked(*b)
		*b = (*b)[:0]
		batchBufs.Put(b)
		return err
	}
	if err := s.flushLocked(); err != nil {
		return err
	}
	_ = s.Conn.SetWriteDeadline(time.Now().Add(s.timeout))
	bufs := net.Buffers{hdr, p}
	_, err := bufs.WriteTo(s.Conn)
	return err
}

func (s *socket) writeLocked(p []byte) (int, error) {
	_ = s.Conn.SetWriteDeadline(time.Now().Add(s.timeout))
	return s.Conn.Write(p)
}

func (s *socket) flushLocked() error {
	if s.buf == nil || len(*s.buf) == 0 {
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
	*s.buf = (*s.buf)[:0]
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
