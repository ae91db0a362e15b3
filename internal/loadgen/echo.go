package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Echo: Conns connections each pipeline Messages messages of Size bytes
// and read the echoes; Rate is messages per second (one message = out and
// back).
//
// The tool shares the machine with the server it measures, so what it
// spends per message is kept small (see EchoMinimal for the yardstick):
// per connection one writer and one reader goroutine; the writer frames
// and masks each message in place in a reused buffer (a fresh mask key
// per frame from a per-connection generator) and writes Batch frames per
// system call; the reader reads large chunks and parses the frames where
// they lie, without copying or allocating, and checks that each echo is
// the message sent. No deadline is set per read or write: the whole run
// is bounded by Timeout, after which the connections are closed.
func Echo(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(50, 2000, 64); err != nil {
		return Result{}, err
	}
	if o.Batch <= 0 {
		o.Batch = 1
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	conns, err := dialAll(ctx, &o, o.Conns, func(_ int, u string) (*echoConn, error) { return dialEcho(u) }, (*echoConn).close)
	if err != nil {
		return Result{}, err
	}
	stop := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.conn.Close()
		}
	})
	defer stop()
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	msg := []byte(strings.Repeat("x", o.Size))
	total := o.Conns * o.Messages
	p := newProgress(o.Progress, "echo", total)
	defer p.done()
	errs := make(chan error, 2*len(conns))
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := c.writeMessages(msg, o.Messages, o.Batch); err != nil {
				errs <- err
				c.conn.Close() // ends the reader too
			}
		}()
		go func() {
			defer wg.Done()
			if err := c.readEchoes(msg, o.Messages, p); err != nil {
				errs <- err
				c.conn.Close()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	p.done()
	select {
	case err := <-errs:
		if ctx.Err() != nil {
			return Result{}, fmt.Errorf("echo: the run took longer than its timeout (%v): %w", o.Timeout, err)
		}
		return Result{}, err
	default:
	}
	return Result{Mode: "echo", URL: o.URL, Conns: o.Conns, Messages: o.Messages, Size: o.Size, Elapsed: elapsed, Rate: float64(total) / elapsed.Seconds(), ToolCPU: cpu}, nil
}

// cpuTime is the CPU time (user + system) this process has used so far,
// or 0 if the system does not say.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// echoConn is one connection of the echo run. Writes (messages, pongs,
// the close) hold wmu; one goroutine reads.
type echoConn struct {
	conn net.Conn
	r    io.Reader // what the handshake left buffered, then the socket
	wmu  sync.Mutex
	once sync.Once
}

// dialEcho opens a WebSocket to a loopback URL (checked by the caller).
func dialEcho(rawURL string) (*echoConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return nil, err
	}
	var key [16]byte
	rand.Read(key[:])
	k := base64.StdEncoding.EncodeToString(key[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + k + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		conn.Close()
		return nil, err
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<12))
		conn.Close()
		return nil, fmt.Errorf("the server did not upgrade: HTTP %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	sum := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		conn.Close()
		return nil, errors.New("the server's Sec-WebSocket-Accept does not match the key")
	}
	_ = conn.SetDeadline(time.Time{})
	var r io.Reader = conn
	if n := br.Buffered(); n > 0 {
		head, _ := br.Peek(n)
		r = io.MultiReader(bytes.NewReader(bytes.Clone(head)), conn)
	}
	return &echoConn{conn: conn, r: r}, nil
}

// close sends a close frame (best effort) and closes the socket, once.
func (c *echoConn) close() {
	c.once.Do(func() {
		var f [8]byte
		c.wmu.Lock()
		_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.conn.Write(appendFrame(f[:0], opClose, []byte{0x03, 0xe8}, 0))
		c.wmu.Unlock()
		c.conn.Close()
	})
}

const (
	opCont  = 0x0
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// appendFrame appends one final, masked client frame of payload to b,
// masked with key.
func appendFrame(b []byte, op byte, payload []byte, key uint32) []byte {
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = binary.BigEndian.AppendUint32(b, key)
	start := len(b)
	b = append(b, payload...)
	mask(b[start:], key)
	return b
}

// mask XORs p in place with the 4-byte key (as sent, big-endian), eight
// bytes at a time.
func mask(p []byte, key uint32) {
	k8 := uint64(bits.ReverseBytes32(key)) // the key's bytes in memory order
	k8 |= k8 << 32
	i := 0
	for ; i+8 <= len(p); i += 8 {
		binary.LittleEndian.PutUint64(p[i:], binary.LittleEndian.Uint64(p[i:])^k8)
	}
	for ; i < len(p); i++ {
		p[i] ^= byte(k8 >> (8 * (i & 3)))
	}
}

// writeMessages sends n text messages of msg, batch frames per write.
func (c *echoConn) writeMessages(msg []byte, n, batch int) error {
	rng := mrand.New(mrand.NewPCG(mrand.Uint64(), mrand.Uint64()))
	buf := make([]byte, 0, min(batch, n)*(len(msg)+14))
	for sent := 0; sent < n; {
		buf = buf[:0]
		k := min(batch, n-sent)
		for range k {
			buf = appendFrame(buf, opText, msg, rng.Uint32())
		}
		c.wmu.Lock()
		_, err := c.conn.Write(buf)
		c.wmu.Unlock()
		if err != nil {
			return fmt.Errorf("after %d of %d messages: %w", sent, n, err)
		}
		sent += k
	}
	return nil
}

// readEchoes reads until n echoes of msg arrived. Frames are parsed in
// the read buffer; pings are answered; any other frame, or an echo that
// differs from msg, is an error.
func (c *echoConn) readEchoes(msg []byte, n int, p *progress) error {
	buf := make([]byte, max(64<<10, 2*(len(msg)+14)))
	var start, end int
	got, msgLen := 0, 0
	for got < n {
		before := got
		for {
			avail := buf[start:end]
			if len(avail) < 2 {
				break
			}
			b0, b1 := avail[0], avail[1]
			if b1&0x80 != 0 {
				return errors.New("the server sent a masked frame")
			}
			hl, pl := 2, uint64(b1&0x7f)
			switch pl {
			case 126:
				hl = 4
			case 127:
				hl = 10
			}
			if len(avail) < hl {
				break
			}
			switch pl {
			case 126:
				pl = uint64(binary.BigEndian.Uint16(avail[2:]))
			case 127:
				pl = binary.BigEndian.Uint64(avail[2:])
			}
			if pl > uint64(len(msg))+1<<16 {
				return fmt.Errorf("the server sent a frame of %d bytes (messages are %d)", pl, len(msg))
			}
			fl := hl + int(pl)
			if fl > len(buf) {
				buf = append(buf, make([]byte, fl-len(buf))...)
			}
			if len(avail) < fl {
				break
			}
			payload := avail[hl:fl]
			start += fl
			switch op := b0 & 0x0f; op {
			case opText, opCont:
				if (op == opText) != (msgLen == 0) || msgLen+len(payload) > len(msg) || !bytes.Equal(payload, msg[msgLen:msgLen+len(payload)]) {
					return fmt.Errorf("echo %d of %d is not the message sent", got+1, n)
				}
				msgLen += len(payload)
				if b0&0x80 != 0 {
					if msgLen != len(msg) {
						return fmt.Errorf("echo %d of %d has %d bytes, sent %d", got+1, n, msgLen, len(msg))
					}
					got, msgLen = got+1, 0
				}
			case opPing:
				if err := c.pong(payload); err != nil {
					return err
				}
			case opPong:
			case opClose:
				code := 1005
				if len(payload) >= 2 {
					code = int(binary.BigEndian.Uint16(payload))
				}
				return fmt.Errorf("the server closed the connection after %d of %d echoes: %d %q", got, n, code, payload[min(2, len(payload)):])
			default:
				return fmt.Errorf("the server sent a frame with opcode %d", op)
			}
		}
		if got > before {
			p.add(got - before)
		}
		if got >= n {
			break
		}
		if start == end {
			start, end = 0, 0
		} else if start > 0 && len(buf)-end < 4<<10 {
			end = copy(buf, buf[start:end])
			start = 0
		}
		if end == len(buf) { // a frame larger than what is left
			end = copy(buf, buf[start:end])
			start = 0
		}
		m, err := c.r.Read(buf[end:])
		end += m
		if err != nil && m == 0 {
			return fmt.Errorf("after %d of %d echoes: %w", got, n, err)
		}
	}
	return nil
}

func (c *echoConn) pong(payload []byte) error {
	var f [14 + 125]byte
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.conn.Write(appendFrame(f[:0], opPong, payload, mrand.Uint32()))
	return err
}
