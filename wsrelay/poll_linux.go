//go:build linux

package wsrelay

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// poller watches the sockets of idle connections for bytes, so that an
// idle connection has no goroutine and no buffer: its reader stops
// between messages (inbound.run returns errIdle), its socket joins an
// epoll set, and the poller's loop starts a goroutine for it once bytes
// (or the client's end) arrive. One per relay; its loop runs while at
// least one of the relay's sockets is in its set.
//
// A socket joins the set as it is, without a dup: its file descriptor is
// Go's own (armed through SyscallConn's Control, which holds it open
// meanwhile), and closing the socket takes it out of the set. An event
// names the watch by slot and generation, never by descriptor: an event
// for a socket closed since, whose number a new socket took, matches no
// watch and is dropped.
//
// A reader stops only once no message has begun for idleLinger: a busy
// connection's reader waits on Go's own poller between messages, as a
// reader of its own would.
//
// Each watch is armed once (EPOLLONESHOT) each time its reader stops:
// one event, then nothing until the reader stops again. Arming a socket
// that is readable already reports it at once, so bytes that arrive
// between the reader's last read and the arm are not missed.
type poller struct {
	mu    sync.Mutex
	set   *epollSet // the set new watches join; nil while none is open
	slots []*watch  // by slot: the watch holding it, nil when free
	free  []uint32
	gen   uint32
	loops running // loop goroutines: Shutdown waits for them
}

// epollSet is one epoll instance and the goroutine that waits on it.
type epollSet struct {
	fd     int         // the epoll instance
	wake   int         // an eventfd in the set: ends the loop
	n      int         // watches that joined it and have not ended, under poller.mu
	closed bool        // no watch is left: the loop ends (under poller.mu)
	failed atomic.Bool // epoll_wait failed: no event comes any more
}

// The states of a watched reader. Only the goroutine that moved a watch
// from readIdle to readRunning reads from it; the poller and a close
// only wake it.
const (
	readRunning int32 = iota // a goroutine reads
	readWoken                // a goroutine reads, and bytes or a close came meanwhile: it reads again before it stops
	readIdle                 // no goroutine: the socket is armed, or about to be woken
	readDone                 // the reader has ended
)

// watch is a connection whose reader stops while idle.
type watch struct {
	p     *poller
	rc    syscall.RawConn
	state atomic.Int32

	// Set by the goroutine reading (one at a time, handed on through
	// state).
	rl    *Relay
	c     *conn
	in    *inbound
	err   error     // why the reading ended (nil: a panic)
	set   *epollSet // the set it joined; nil before it first stopped
	added bool      // the socket is in set
	slot  uint32
	gen   uint32 // of its slot when it joined; never 0
}

// watchedConn is the connection's socket for writes and closes: closing
// it wakes a reader that is stopped, which then finds the socket closed
// and ends the connection's reading as a blocked read would. It keeps
// *net.TCPConn's methods, vectored writes among them.
type watchedConn struct {
	*net.TCPConn
	w *watch
}

func (c *watchedConn) Close() error {
	err := c.TCPConn.Close()
	c.w.wake()
	return err
}

// watchConn returns the socket to write to and the watch of its reader,
// when the socket can be watched; else nc itself and nil (the reader then
// waits on a goroutine of its own).
func (rl *Relay) watchConn(nc net.Conn) (net.Conn, *watch) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nc, nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nc, nil
	}
	w := &watch{p: &rl.poll, rc: rc}
	return &watchedConn{TCPConn: tc, w: w}, w
}

// start starts reading the connection's frames. A client that sent
// nothing yet is left to the poller at once, from the handshake's
// goroutine: a connection that stays idle from its start never has a
// reader goroutine.
func (w *watch) start(rl *Relay, c *conn, in *inbound) {
	w.rl, w.c, w.in = rl, c, in
	if len(in.pre) == 0 && w.stop() {
		return
	}
	go w.serve()
}

// serve reads the connection's frames until no message has come for a
// while, then leaves the socket to the poller and returns; or until the
// reading ends. It runs on a goroutine the poller starts for each event
// (and on the connection's first, for bytes sent with the handshake),
// one at a time.
func (w *watch) serve() {
	for {
		if !w.step() {
			w.end()
			return
		}
		if w.stop() {
			return
		}
	}
}

// stop gives the reader's buffers back and arms the socket: true if the
// goroutine may end (the next event or a close wakes the reader), false
// if it must read on (woken meanwhile, or the socket cannot be watched:
// it is closed, or the poller failed; its reads then wait on the socket,
// and a closed one fails at once, ending the reading).
func (w *watch) stop() bool {
	w.in.rest() // nothing is buffered
	if !w.arm() {
		w.in.watched = false
		return false
	}
	if w.state.CompareAndSwap(readRunning, readIdle) {
		return true
	}
	w.state.Store(readRunning) // woken meanwhile: read again
	return false
}

// step reads until the reader stops between messages (true) or ends
// (false, with why in w.err). A panic ends the connection alone
// (recoverPanic).
func (w *watch) step() (idle bool) {
	defer w.c.recoverPanic("reading frames")
	err := w.in.run()
	if err == errIdle {
		return true
	}
	w.err = err
	return false
}

// end: the reading has ended; what the reader held goes back, the
// connection is told why (readerDone), as is done for a reader with a
// goroutine of its own, the watch leaves the poller and the relay stops
// counting it.
func (w *watch) end() {
	w.state.Store(readDone)
	w.in.releaseAll()
	w.c.readerDone(w.err)
	w.p.leave(w)
	w.rl.readers.Done()
}

// wake starts a goroutine for a stopped reader, or tells a running one
// to read again before it stops.
func (w *watch) wake() {
	for {
		switch s := w.state.Load(); s {
		case readIdle:
			if w.state.CompareAndSwap(readIdle, readRunning) {
				go w.serve()
				return
			}
		case readRunning:
			if w.state.CompareAndSwap(readRunning, readWoken) {
				return
			}
		default:
			return
		}
	}
}

// arm puts the socket in the poller's set (the first time) or arms it
// again; false if it cannot.
func (w *watch) arm() bool {
	if w.set == nil && !w.p.join(w) {
		return false
	}
	if w.set.failed.Load() {
		return false
	}
	op := unix.EPOLL_CTL_MOD
	if !w.added {
		op = unix.EPOLL_CTL_ADD
	}
	// Set before the call: an event may start the next goroutine before
	// it returns.
	w.added = true
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(w.slot), Pad: int32(w.gen)}
	var errno error
	err := w.rc.Control(func(fd uintptr) {
		// The descriptor stays open during this call: it cannot be a
		// number another socket took.
		errno = unix.EpollCtl(w.set.fd, op, int(fd), &ev)
	})
	return err == nil && errno == nil
}

// join gives w a slot in the open set, opening one (and starting its
// loop) if none is.
func (p *poller) join(w *watch) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.set == nil {
		set, err := openSet()
		if err != nil {
			return false
		}
		p.set = set
		p.loops.add()
		go p.loop(set)
	}
	if len(p.free) == 0 {
		p.slots = append(p.slots, nil)
		p.free = append(p.free, uint32(len(p.slots)-1))
	}
	w.slot = p.free[len(p.free)-1]
	p.free = p.free[:len(p.free)-1]
	p.gen++
	if p.gen == 0 {
		p.gen = 1 // the eventfd's event is slot 0, generation 0
	}
	w.gen = p.gen
	p.slots[w.slot] = w
	w.set = p.set
	p.set.n++
	return true
}

// leave frees w's slot once its reading has ended. The socket needs no
// removal from the set: it is closed, or will be, which removes it; until
// then it is not armed (an event started the goroutine that ends it), or
// its events find no watch in the slot. The last to leave a set ends its
// loop.
func (p *poller) leave(w *watch) {
	if w.set == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.slots[w.slot] = nil
	p.free = append(p.free, w.slot)
	set := w.set
	if set.n--; set.n > 0 {
		return
	}
	if p.set == set {
		p.set = nil
	}
	set.closed = true
	if set.failed.Load() { // its loop has ended already
		closeSet(set)
		return
	}
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(set.wake, one[:])
}

func openSet() (*epollSet, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(fd)
		return nil, err
	}
	if err := unix.EpollCtl(fd, unix.EPOLL_CTL_ADD, wake, &unix.EpollEvent{Events: unix.EPOLLIN}); err != nil {
		_ = unix.Close(fd)
		_ = unix.Close(wake)
		return nil, err
	}
	return &epollSet{fd: fd, wake: wake}, nil
}

func closeSet(set *epollSet) {
	_ = unix.Close(set.fd)
	_ = unix.Close(set.wake)
}

// loop waits for events on set and wakes their watches, until the set's
// last watch has left.
func (p *poller) loop(set *epollSet) {
	defer p.loops.done()
	events := make([]unix.EpollEvent, 128)
	var ready []*watch
	for {
		n, err := unix.EpollWait(set.fd, events, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			p.fail(set)
			return
		}
		p.mu.Lock()
		for _, e := range events[:n] {
			slot, gen := uint32(e.Fd), uint32(e.Pad)
			if gen == 0 || int(slot) >= len(p.slots) {
				continue // the eventfd: closed is checked below
			}
			if w := p.slots[slot]; w != nil && w.gen == gen {
				ready = append(ready, w)
			}
		}
		closed := set.closed
		p.mu.Unlock()
		for i, w := range ready {
			w.wake()
			ready[i] = nil
		}
		ready = ready[:0]
		if closed {
			closeSet(set)
			return
		}
	}
}

// fail: epoll_wait failed, which it does not but for a bug. The set's
// watches are woken and read with waiting reads from then on (arm
// refuses a failed set); the last to leave closes it.
func (p *poller) fail(set *epollSet) {
	p.mu.Lock()
	set.failed.Store(true)
	if p.set == set {
		p.set = nil
	}
	if set.closed { // the last watch left before it failed
		closeSet(set)
	}
	var woken []*watch
	for _, w := range p.slots {
		if w != nil && w.set == set {
			woken = append(woken, w)
		}
	}
	p.mu.Unlock()
	for _, w := range woken {
		w.wake()
	}
}
