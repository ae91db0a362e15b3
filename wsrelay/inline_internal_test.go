package wsrelay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/process"
)

// TestInlineWritesAcrossPartialWrites: frames written inline to a client
// that reads nothing fill its socket, and a write is taken in part; the
// frame cut short is finished by the writer before any other, and once
// the client reads, every frame arrives whole, in order.
func TestInlineWritesAcrossPartialWrites(t *testing.T) {
	log := slog.New(slog.NewTextHandler(&testlog.Buffer{}, nil))
	node, err := process.NewNode(&process.Options{Name: "n1", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rl, err := New(Options{Node: node, Logger: log, Route: "test:ws", OutboundQueue: 4096, OutboundMaxBytes: 64 << 20, WriteTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	c := &conn{rl: rl, sock: &socket{Conn: server, timeout: time.Minute}}
	c.sock.initRaw()
	c.out.init(&rl.opts, &rl.outBytes)

	// 200 frames of 20 to 60 KiB, 8 MiB: more than the socket's buffers
	// take, each one small enough to be written inline.
	const n = 200
	body := func(i int) []byte {
		return append([]byte(fmt.Sprintf("%04d", i)), bytes.Repeat([]byte{byte('a' + i%26)}, 20<<10+i*997%(40<<10))...)
	}
	// Queued while the client reads nothing: the socket fills, a write is
	// cut short, and the rest waits for the writer.
	for i := range n {
		c.enqueue(frame{op: opText, data: body(i)})
	}
	r := bufio.NewReader(client)
	for i := range n {
		var h [2]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		size := int(h[1] & 0x7f)
		if size == 126 {
			var ext [2]byte
			if _, err := io.ReadFull(r, ext[:]); err != nil {
				t.Fatalf("frame %d: %v", i, err)
			}
			size = int(binary.BigEndian.Uint16(ext[:]))
		}
		p := make([]byte, size)
		if _, err := io.ReadFull(r, p); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if h[0] != 0x81 || !bytes.Equal(p, body(i)) {
			t.Fatalf("frame %d: header %#x, %d bytes beginning %.8q; want a text frame of %d bytes beginning %.8q", i, h[0], len(p), p, len(body(i)), body(i))
		}
	}
	<-rl.writers.idle()
	if got := c.framesOut.Load(); got != n {
		t.Fatalf("%d frames counted out, want %d", got, n)
	}
}
