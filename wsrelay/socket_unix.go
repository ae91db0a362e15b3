//go:build unix

package wsrelay

import (
	"errors"
	"os"
	"syscall"
)

// tryWrite writes what of p the socket takes now, without waiting: one
// write(2) on the non-blocking descriptor Go keeps. It returns how much
// was written (0 when the socket's buffer is full, or when the socket
// offers no descriptor or has a write deadline in the past, for the
// writer goroutine to deal with) and the error of a socket that failed.
func (s *socket) tryWrite(p []byte) (int, error) {
	if s.raw == nil {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int
	var werr error
	err := s.raw.Write(func(fd uintptr) bool {
		n, werr = syscall.Write(int(fd), p)
		return true // never wait for the socket to be writable
	})
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, nil
		}
		return 0, err
	}
	if n < 0 {
		n = 0
	}
	if werr == syscall.EAGAIN || werr == syscall.EWOULDBLOCK || werr == syscall.EINTR {
		werr = nil
	}
	return n, werr
}
