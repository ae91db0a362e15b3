// Package wsclient is a WebSocket client written from RFC 6455 with full
// control over frames: masking, reserved bits, opcodes, fragmentation and
// close payloads. It ships in the wsrelay command as the client of the
// load tool (internal/loadgen, behind `wsrelay bench`), which opens and
// holds connections with it; the tests use its frame-level calls to send
// what a broken or hostile client would.
package wsclient

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Opcodes.
const (
	OpContinuation = 0x0
	OpText         = 0x1
	OpBinary       = 0x2
	OpClose        = 0x8
	OpPing         = 0x9
	OpPong         = 0xA
)

// Client is one connection.
type Client struct {
	Conn    net.Conn
	br      *bufio.Reader
	Timeout time.Duration // for each read and write; default 30s; negative: none
}

// Frame is one frame as read from the server.
type Frame struct {
	Fin     bool
	Rsv     byte // the three reserved bits, as bits 6..4 of the first byte
	Op      byte
	Masked  bool
	Payload []byte
}

// CloseCode returns the code of a close frame, or 1005 when it has none.
func (f Frame) CloseCode() int {
	if len(f.Payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(f.Payload))
}

// CloseReason returns the reason of a close frame.
func (f Frame) CloseReason() string {
	if len(f.Payload) < 2 {
		return ""
	}
	return string(f.Payload[2:])
}

// Dial opens a WebSocket to rawURL (ws:// or http://) with extra headers.
// When the server answers with something other than 101, the response is
// returned with ErrNotUpgraded; its body is read into Body.
func Dial(rawURL string, header http.Header) (*Client, *Response, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, err
	}
	conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	key := make([]byte, 16)
	rand.Read(key)
	k := base64.StdEncoding.EncodeToString(key)
	path := u.RequestURI()
	var b strings.Builder
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n", path, u.Host, k)
	for name, vs := range header {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s\r\n", name, v)
		}
	}
	b.WriteString("\r\n")
	_ = conn.SetDeadline(time.Now().Add(defaultTimeout))
	if _, err := io.WriteString(conn, b.String()); err != nil {
		conn.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: "GET"})
	if err != nil {
		conn.Close()
		return nil, nil, err
	}
	r := &Response{Status: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		r.Body = string(body)
		conn.Close()
		return nil, r, ErrNotUpgraded
	}
	sum := sha1.Sum([]byte(k + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		conn.Close()
		return nil, r, errors.New("wsclient: wrong Sec-WebSocket-Accept")
	}
	_ = conn.SetDeadline(time.Time{})
	return &Client{Conn: conn, br: br, Timeout: defaultTimeout}, r, nil
}

// RawRequest sends req exactly as written (a whole HTTP request: a
// handshake no client library would send, say) over a new TCP connection
// to addr and reads the answer. The response's body, up to 1 MiB, is read
// and closed; it is returned as body. timeout bounds the whole exchange.
func RawRequest(addr, req string, timeout time.Duration) (resp *http.Response, body string, err error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, req); err != nil {
		return nil, "", err
	}
	resp, err = http.ReadResponse(bufio.NewReader(c), &http.Request{Method: "GET"})
	if err != nil {
		return nil, "", fmt.Errorf("reading the answer to %q: %w", req, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, string(b), nil
}

// ErrNotUpgraded is returned by Dial when the server did not switch protocols.
var ErrNotUpgraded = errors.New("wsclient: the server did not upgrade")

// Response is the server's answer to the handshake.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// AppendHeader appends to dst the header of a frame announcing length
// payload bytes, which need not follow (a test may announce what it never
// sends). rsv sets the reserved bits (0..7); a non-nil key sets the mask
// bit and is the mask key.
func AppendHeader(dst []byte, fin bool, rsv, op byte, length uint64, key *[4]byte) []byte {
	b0 := op & 0x0f
	if fin {
		b0 |= 0x80
	}
	b0 |= (rsv & 0x7) << 4
	dst = append(dst, b0)
	var mbit byte
	if key != nil {
		mbit = 0x80
	}
	switch {
	case length < 126:
		dst = append(dst, mbit|byte(length))
	case length < 1<<16:
		dst = append(dst, mbit|126, byte(length>>8), byte(length))
	default:
		dst = append(dst, mbit|127)
		dst = binary.BigEndian.AppendUint64(dst, length)
	}
	if key != nil {
		dst = append(dst, key[:]...)
	}
	return dst
}

// WriteFrame writes one frame. rsv sets the reserved bits (0..7); a client
// frame should be masked.
func (c *Client) WriteFrame(fin bool, rsv, op byte, payload []byte, masked bool) error {
	var key *[4]byte
	if masked {
		key = new([4]byte)
		rand.Read(key[:])
	}
	hdr := AppendHeader(nil, fin, rsv, op, uint64(len(payload)), key)
	data := payload
	if masked {
		data = make([]byte, len(payload))
		for i := range payload {
			data[i] = payload[i] ^ key[i%4]
		}
	}
	if t := c.timeout(); t > 0 {
		_ = c.Conn.SetWriteDeadline(time.Now().Add(t))
	}
	_, err := c.Conn.Write(append(hdr, data...))
	return err
}

// WriteText sends a masked text message.
func (c *Client) WriteText(s string) error { return c.WriteFrame(true, 0, OpText, []byte(s), true) }

// WriteBinary sends a masked binary message.
func (c *Client) WriteBinary(b []byte) error { return c.WriteFrame(true, 0, OpBinary, b, true) }

// WriteClose sends a close frame with a code (0: no payload) and reason.
func (c *Client) WriteClose(code int, reason string) error {
	var p []byte
	if code != 0 {
		p = binary.BigEndian.AppendUint16(nil, uint16(code))
		p = append(p, reason...)
	}
	return c.WriteFrame(true, 0, OpClose, p, true)
}

// defaultTimeout bounds a handshake and each read of a test's client:
// generous, since it only matters when something is wrong, and two -race
// suites at once on two cores made a chat's welcome take more than 10 s.
const defaultTimeout = 30 * time.Second

func (c *Client) timeout() time.Duration {
	if c.Timeout == 0 {
		return defaultTimeout
	}
	return c.Timeout
}

// ReadFrame reads the next frame.
func (c *Client) ReadFrame() (Frame, error) {
	if t := c.timeout(); t > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(t))
	}
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		return Frame{}, err
	}
	f := Frame{Fin: h[0]&0x80 != 0, Rsv: (h[0] >> 4) & 0x7, Op: h[0] & 0x0f, Masked: h[1]&0x80 != 0}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		if _, err := io.ReadFull(c.br, e[:]); err != nil {
			return Frame{}, err
		}
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		if _, err := io.ReadFull(c.br, e[:]); err != nil {
			return Frame{}, err
		}
		n = binary.BigEndian.Uint64(e[:])
	}
	var key [4]byte
	if f.Masked {
		if _, err := io.ReadFull(c.br, key[:]); err != nil {
			return Frame{}, err
		}
	}
	if n > 1<<30 {
		return Frame{}, fmt.Errorf("wsclient: frame of %d bytes", n)
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(c.br, f.Payload); err != nil {
		return Frame{}, err
	}
	if f.Masked {
		for i := range f.Payload {
			f.Payload[i] ^= key[i%4]
		}
	}
	return f, nil
}

// ReadMessage reads the next data message, joining fragments and
// answering pings; a close frame ends it with the frame and ErrClosed.
func (c *Client) ReadMessage() (op byte, data []byte, err error) {
	var msgOp byte
	var buf []byte
	for {
		f, err := c.ReadFrame()
		if err != nil {
			return 0, nil, err
		}
		switch f.Op {
		case OpPing:
			if err := c.WriteFrame(true, 0, OpPong, f.Payload, true); err != nil {
				return 0, nil, err
			}
			continue
		case OpPong:
			continue
		case OpClose:
			return OpClose, f.Payload, ErrClosed
		case OpText, OpBinary:
			msgOp, buf = f.Op, f.Payload
		case OpContinuation:
			buf = append(buf, f.Payload...)
		}
		if f.Fin {
			if msgOp == OpText && !utf8.Valid(buf) {
				return 0, nil, errors.New("wsclient: a text message is not valid UTF-8")
			}
			return msgOp, buf, nil
		}
	}
}

// ErrClosed is returned by ReadMessage when a close frame arrives; the
// frame's payload is returned as data.
var ErrClosed = errors.New("wsclient: close frame received")

// ReadText reads the next message and requires it to be text.
func (c *Client) ReadText() (string, error) {
	op, data, err := c.ReadMessage()
	if err != nil {
		return "", err
	}
	if op != OpText {
		return "", fmt.Errorf("wsclient: expected a text message, got opcode %d", op)
	}
	return string(data), nil
}

// ReadClose reads until a close frame and returns its code and reason.
func (c *Client) ReadClose() (code int, reason string, err error) {
	for {
		f, err := c.ReadFrame()
		if err != nil {
			return 0, "", err
		}
		if f.Op == OpClose {
			return f.CloseCode(), f.CloseReason(), nil
		}
	}
}

// Close closes the TCP connection.
func (c *Client) Close() error { return c.Conn.Close() }
