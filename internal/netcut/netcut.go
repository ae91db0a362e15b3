// Package netcut is a TCP proxy for tests that cuts connections the way a
// network does: while cut, it closes what it carries and refuses new
// connections; healed, it forwards again. It can also hang: connections
// stay open and carry nothing until the hang ends.
package netcut

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections from a loopback port to a target.
type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	cut    bool
	hung   chan struct{} // closed when a hang ends; nil while none
	wg     sync.WaitGroup
}

// Start listens on a random loopback port and forwards to target until
// the test ends.
func Start(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = ln.Close()
		p.SetCut(true)
		p.SetHang(false) // what a hang held fails on the closed connections
		p.wg.Wait()
	})
	return p
}

// Addr is the address to connect to instead of the target.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// SetCut cuts (true) or heals (false) the network.
func (p *Proxy) SetCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.conns = nil
	}
}

// SetHang makes the network hang (true): connections stay open but carry
// nothing, the way a dead link or a silent firewall behaves, until the
// hang ends (false) and what was held goes through.
func (p *Proxy) SetHang(hang bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case hang && p.hung == nil:
		p.hung = make(chan struct{})
	case !hang && p.hung != nil:
		close(p.hung)
		p.hung = nil
	}
}

// waitHang returns once the network does not hang.
func (p *Proxy) waitHang() {
	p.mu.Lock()
	h := p.hung
	p.mu.Unlock()
	if h != nil {
		<-h
	}
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns = append(p.conns, c, s)
		p.wg.Add(2)
		go p.pipe(c, s)
		go p.pipe(s, c)
		p.mu.Unlock()
	}
}

func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.waitHang()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
}
