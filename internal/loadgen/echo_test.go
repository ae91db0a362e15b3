package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/leakcheck"
)

// Every run's goroutines (writers, readers, gws read loops, progress)
// end with it.
func TestMain(m *testing.M) { leakcheck.Main(m) }

func TestMaskIsRFC6455Masking(t *testing.T) {
	for n := range 40 {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rand.Uint32())
		}
		key := rand.Uint32()
		var k [4]byte
		binary.BigEndian.PutUint32(k[:], key)
		want := make([]byte, n)
		for i := range p {
			want[i] = p[i] ^ k[i%4] // RFC 6455 §5.3
		}
		got := bytes.Clone(p)
		mask(got, key)
		if !bytes.Equal(got, want) {
			t.Fatalf("%d bytes, key %08x: got % x, want % x", n, key, got, want)
		}
	}
}

// clientFrame is a frame as the scripted server read it, unmasked.
type clientFrame struct {
	fin     bool
	op      byte
	masked  bool
	key     uint32
	payload []byte
}

// scriptServer serves WebSocket upgrades on 127.0.0.1 and hands every
// frame a client sends to respond, which writes what the server answers.
// It returns the URL; the server and its connections end with the test.
func scriptServer(t *testing.T, respond func(w io.Writer, f clientFrame) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serveScript(c, respond)
			}()
		}
	}()
	return "ws://" + ln.Addr().String() + "/echo"
}

func serveScript(c net.Conn, respond func(w io.Writer, f clientFrame) error) {
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "+base64.StdEncoding.EncodeToString(sum[:])+"\r\n\r\n")
	bw := bufio.NewWriter(c)
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return
		}
		f := clientFrame{fin: h[0]&0x80 != 0, op: h[0] & 0x0f, masked: h[1]&0x80 != 0}
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var e [2]byte
			io.ReadFull(br, e[:])
			n = uint64(binary.BigEndian.Uint16(e[:]))
		case 127:
			var e [8]byte
			io.ReadFull(br, e[:])
			n = binary.BigEndian.Uint64(e[:])
		}
		if f.masked {
			var k [4]byte
			io.ReadFull(br, k[:])
			f.key = binary.BigEndian.Uint32(k[:])
		}
		f.payload = make([]byte, n)
		if _, err := io.ReadFull(br, f.payload); err != nil {
			return
		}
		for i := range f.payload { // unmasked as RFC 6455 §5.3 says, not with mask()
			f.payload[i] ^= byte(f.key >> (24 - 8*(i%4)))
		}
		if respond(bw, f) != nil || bw.Flush() != nil {
			return
		}
	}
}

// serverFrame is an unmasked frame as a server sends it.
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	b := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n < 1<<16:
		b = append(b, 126, byte(n>>8), byte(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

func echoFrame(w io.Writer, f clientFrame) error {
	if f.op == opText {
		_, err := w.Write(serverFrame(true, opText, f.payload))
		return err
	}
	return nil
}

func TestEchoCountsEchoesAndMasksEachFrame(t *testing.T) {
	var mu sync.Mutex
	keys := map[uint32]bool{}
	frames := 0
	u := scriptServer(t, func(w io.Writer, f clientFrame) error {
		if f.op == opText {
			mu.Lock()
			frames++
			if !f.masked || !f.fin || string(f.payload) != strings.Repeat("x", 300) {
				t.Errorf("frame %d: masked %v fin %v payload %q", frames, f.masked, f.fin, f.payload)
			}
			keys[f.key] = true
			mu.Unlock()
		}
		return echoFrame(w, f)
	})
	for _, batch := range []int{1, 7} {
		mu.Lock()
		frames, keys = 0, map[uint32]bool{}
		mu.Unlock()
		r, err := Echo(context.Background(), Options{URL: u, Conns: 3, Messages: 50, Size: 300, Batch: batch, Timeout: time.Minute})
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		if r.Rate <= 0 || r.Conns != 3 || r.Messages != 50 {
			t.Errorf("batch %d: %+v", batch, r)
		}
		mu.Lock()
		if frames != 150 || len(keys) < 140 {
			t.Errorf("batch %d: the server got %d frames with %d distinct mask keys, want 150 frames with fresh keys", batch, frames, len(keys))
		}
		mu.Unlock()
	}
}

// A server may fragment an echo, ping in the middle of the stream, and
// split frames across reads: the echo is still counted once, and the
// ping answered with a pong carrying its payload.
func TestEchoReadsFragmentsAndAnswersPings(t *testing.T) {
	pongs := make(chan string, 100)
	u := scriptServer(t, func(w io.Writer, f clientFrame) error {
		switch f.op {
		case opPong:
			pongs <- string(f.payload)
			return nil
		case opText:
			out := serverFrame(false, opText, f.payload[:10])
			out = append(out, serverFrame(true, opPing, []byte("are you there"))...)
			out = append(out, serverFrame(false, opCont, f.payload[10:20])...)
			out = append(out, serverFrame(true, opCont, f.payload[20:])...)
			// byte by byte: the reader must wait for whole headers and payloads
			for i := range out {
				if _, err := w.Write(out[i : i+1]); err != nil {
					return err
				}
				if wf, ok := w.(*bufio.Writer); ok {
					wf.Flush()
				}
			}
		}
		return nil
	})
	if _, err := Echo(context.Background(), Options{URL: u, Conns: 1, Messages: 5, Size: 200, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		select {
		case p := <-pongs:
			if p != "are you there" {
				t.Errorf("pong %q", p)
			}
		case <-time.After(time.Minute):
			t.Fatal("no pong for a ping")
		}
	}
}

func TestEchoReportsWrongEchoes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		respond func(w io.Writer, f clientFrame) error
		want    string
	}{
		{"different payload", func(w io.Writer, f clientFrame) error {
			if f.op != opText {
				return nil
			}
			p := bytes.Clone(f.payload)
			p[3] = 'y'
			_, err := w.Write(serverFrame(true, opText, p))
			return err
		}, "is not the message sent"},
		{"shorter", func(w io.Writer, f clientFrame) error {
			if f.op != opText {
				return nil
			}
			_, err := w.Write(serverFrame(true, opText, f.payload[:5]))
			return err
		}, "has 5 bytes, sent 64"},
		{"close", func(w io.Writer, f clientFrame) error {
			_, err := w.Write(serverFrame(true, opClose, append([]byte{0x03, 0xf0}, "policy"...)))
			return err
		}, `1008 "policy"`},
		{"masked", func(w io.Writer, f clientFrame) error {
			fr := serverFrame(true, opText, f.payload)
			fr[1] |= 0x80
			_, err := w.Write(fr)
			return err
		}, "masked frame"},
		{"binary", func(w io.Writer, f clientFrame) error {
			_, err := w.Write(serverFrame(true, 0x2, f.payload))
			return err
		}, "opcode 2"},
		{"huge", func(w io.Writer, f clientFrame) error {
			_, err := w.Write([]byte{0x81, 127, 0, 0, 0, 1, 0, 0, 0, 0})
			return err
		}, "frame of 4294967296 bytes"},
		{"hangs up", func(w io.Writer, f clientFrame) error { return io.EOF }, " of 100 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := scriptServer(t, tc.respond)
			_, err := Echo(context.Background(), Options{URL: u, Conns: 2, Messages: 100, Size: 64, Timeout: time.Minute})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestEchoMinimal(t *testing.T) {
	u := scriptServer(t, echoFrame)
	r, err := EchoMinimal(context.Background(), Options{URL: u, Conns: 3, Messages: 40, Size: 100, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.Rate <= 0 || r.Client != "gws" || r.Conns != 3 {
		t.Errorf("%+v", r)
	}
	short := scriptServer(t, func(w io.Writer, f clientFrame) error {
		if f.op != opText {
			return nil
		}
		_, err := w.Write(serverFrame(true, opText, f.payload[:1]))
		return err
	})
	if _, err := EchoMinimal(context.Background(), Options{URL: short, Conns: 2, Messages: 40, Size: 100, Timeout: time.Minute}); err == nil || !strings.Contains(err.Error(), "an echo of 1 bytes, sent 100") {
		t.Errorf("a short echo: %v", err)
	}
}

// The run is bounded by Timeout even when the server never answers.
func TestEchoStopsAtTimeout(t *testing.T) {
	u := scriptServer(t, func(w io.Writer, f clientFrame) error { return nil })
	for _, run := range []func(context.Context, Options) (Result, error){Echo, EchoMinimal} {
		_, err := run(context.Background(), Options{URL: u, Conns: 2, Messages: 10, Timeout: 300 * time.Millisecond})
		if err == nil {
			t.Error("a server that never echoes: no error")
		}
	}
}

// Several URLs: the connections are spread over them in turn, and a URL
// that is not loopback is refused before anything is dialled.
func TestSpreadOverURLs(t *testing.T) {
	var mu sync.Mutex
	got := map[string]int{}
	server := func(name string) string {
		return scriptServer(t, func(w io.Writer, f clientFrame) error {
			if f.op == opText {
				mu.Lock()
				got[name]++
				mu.Unlock()
			}
			return echoFrame(w, f)
		})
	}
	a, b := server("a"), server("b")
	if _, err := Echo(context.Background(), Options{URL: a + "," + b, Conns: 4, Messages: 10, Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if got["a"] != 20 || got["b"] != 20 {
		t.Errorf("frames per server %v, want 20 each (2 of 4 connections on each)", got)
	}
	mu.Unlock()
	if _, err := Echo(context.Background(), Options{URL: a + ",ws://example.com/x", Conns: 2, Messages: 1}); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("a second URL off loopback: %v, want refused", err)
	}
}
