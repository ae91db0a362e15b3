package wsrelay

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// chunkConn hands out its bytes in reads of random sizes, as TCP may.
type chunkConn struct {
	net.Conn
	r   *bytes.Reader
	rnd *rand.Rand
}

func (c *chunkConn) Read(p []byte) (int, error) {
	n := 1 + c.rnd.IntN(min(len(p), 9000))
	return c.r.Read(p[:min(n, len(p))])
}

func (c *chunkConn) SetReadDeadline(time.Time) error { return nil }
func (c *chunkConn) Close() error                    { return nil }

// TestInboundPassesValidStreams: a stream of valid frames (small, held,
// fragmented, with control frames between fragments), read in random
// pieces, reaches the library byte for byte, and every held frame's
// budget is given back.
func TestInboundPassesValidStreams(t *testing.T) {
	for seed := range uint64(50) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		var in []byte
		for range 40 {
			size := rnd.IntN(200)
			if rnd.IntN(3) == 0 {
				size = rnd.IntN(30000)
			}
			p := make([]byte, size)
			switch rnd.IntN(4) {
			case 0:
				in = append(in, plainFrame(false, 2, p[:size/2])...)
				in = append(in, plainFrame(true, 9, []byte("ping"))...)
				in = append(in, plainFrame(true, 0, p[size/2:])...)
			case 1:
				in = append(in, plainFrame(true, 10, p[:min(size, 125)])...)
			default:
				in = append(in, plainFrame(true, 2, p)...)
			}
		}
		budget := NewBudget(1 << 20)
		g := &inbound{nc: &chunkConn{r: bytes.NewReader(in), rnd: rnd}, max: 1 << 20, timeout: time.Minute, budget: budget}
		out, err := io.ReadAll(bufio.NewReaderSize(g, []int{readBufSize, 4096, 16}[seed%3]))
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("seed %d: %d of %d bytes came through equal=%v, %v", seed, len(out), len(in), bytes.Equal(out, in), err)
		}
		if budget.InUse() != 0 {
			t.Fatalf("seed %d: %d bytes of budget kept", seed, budget.InUse())
		}
	}
}

// TestInboundRefuses: header nonsense ends the stream with the close
// code the RFC asks for, before any payload is read.
func TestInboundRefuses(t *testing.T) {
	top := []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
	for _, tc := range []struct {
		name string
		in   []byte
		code int
	}{
		{"64-bit length with the top bit set", top, 1002},
		{"unmasked", []byte{0x81, 0x01, 'x'}, 1002},
		{"RSV1 without compression", []byte{0xc1, 0x80, 1, 2, 3, 4}, 1002},
		{"RSV2", []byte{0xa1, 0x80, 1, 2, 3, 4}, 1002},
		{"opcode 3", []byte{0x83, 0x80, 1, 2, 3, 4}, 1002},
		{"fragmented ping", []byte{0x09, 0x80, 1, 2, 3, 4}, 1002},
		{"ping of 126 bytes", append([]byte{0x89, 0x80 | 126, 0, 126, 1, 2, 3, 4}, make([]byte, 126)...), 1002},
		{"continuation first", []byte{0x80, 0x80, 1, 2, 3, 4}, 1002},
		{"message over the limit", []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0x10, 0, 1, 1, 2, 3, 4}, 1009},
	} {
		g := &inbound{nc: &chunkConn{r: bytes.NewReader(tc.in), rnd: rand.New(rand.NewPCG(1, 2))}, max: 1 << 20, timeout: time.Minute, budget: NewBudget(0)}
		_, err := io.ReadAll(bufio.NewReaderSize(g, 4096))
		fe, ok := err.(*frameError)
		if !ok || fe.Code != tc.code {
			t.Errorf("%s: %v, want close %d", tc.name, err, tc.code)
		}
	}
}

// loopConn hands out the same stream of bytes again and again.
type loopConn struct {
	net.Conn
	data []byte
	off  int
}

func (c *loopConn) Read(p []byte) (int, error) {
	n := copy(p, c.data[c.off:])
	c.off = (c.off + n) % len(c.data)
	return n, nil
}

func (c *loopConn) SetReadDeadline(time.Time) error { return nil }

// BenchmarkInbound: what the guard costs per frame read through it, with
// the library's read buffer above it, against reading the same bytes
// through the 4 KiB buffer of before, without the guard ("plain"). One op
// is one frame.
func BenchmarkInbound(b *testing.B) {
	for _, size := range []int{64, 1024, 65536} {
		var stream []byte
		for len(stream) < 1<<20 {
			stream = append(stream, plainFrame(true, 2, make([]byte, size))...)
		}
		frames := 1 << 20 / size
		if frames*len(plainFrame(true, 2, make([]byte, size))) != len(stream) {
			frames = len(stream) / len(plainFrame(true, 2, make([]byte, size)))
		}
		frameLen := len(stream) / frames
		payload := make([]byte, size)
		read := func(b *testing.B, r io.Reader, bufSize int) {
			br := bufio.NewReaderSize(r, bufSize)
			hdr := make([]byte, frameLen-size)
			b.SetBytes(int64(frameLen))
			for b.Loop() {
				if _, err := io.ReadFull(br, hdr); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(br, payload); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.Run(fmt.Sprintf("plain/%d", size), func(b *testing.B) {
			read(b, &loopConn{data: stream}, 4096)
		})
		b.Run(fmt.Sprintf("guarded/%d", size), func(b *testing.B) {
			g := &inbound{nc: &loopConn{data: stream}, max: 1 << 20, timeout: time.Minute, budget: NewBudget(0)}
			read(b, g, readBufSize)
		})
	}
}

// FuzzInbound: any bytes, read in any pieces, go through the guard
// without a panic; what comes out is a prefix of what went in or (for
// compressed messages) frames the guard made, and a refusal carries a
// close code the RFC allows for it.
func FuzzInbound(f *testing.F) {
	f.Add([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, uint64(1), true)
	f.Add(plainFrame(true, 1, []byte("hello")), uint64(2), false)
	f.Add(append(plainFrame(false, 2, make([]byte, 5000)), plainFrame(true, 0, []byte("x"))...), uint64(3), false)
	f.Add([]byte{0xc1, 0x85, 0, 0, 0, 0, 0xf2, 0x48, 0xcd, 0xc9, 0xc9}, uint64(4), true)
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, deflate bool) {
		g := &inbound{nc: &chunkConn{r: bytes.NewReader(in), rnd: rand.New(rand.NewPCG(seed, 7))}, max: 100000, deflate: deflate, timeout: time.Minute, budget: NewBudget(1 << 20)}
		out, err := io.ReadAll(bufio.NewReaderSize(g, readBufSize))
		if fe, ok := err.(*frameError); ok {
			switch fe.Code {
			case 1002, 1007, 1009:
			default:
				t.Fatalf("close %d", fe.Code)
			}
		}
		if !deflate && !bytes.HasPrefix(in, out) {
			t.Fatalf("%d bytes out are not a prefix of the %d in", len(out), len(in))
		}
		g.releaseAll()
		if g.budget.InUse() != 0 {
			t.Fatalf("%d bytes of budget kept", g.budget.InUse())
		}
	})
}

// byteConn hands out its bytes one at a time: every frame is split at
// every byte boundary.
type byteConn struct{ chunkConn }

func (c *byteConn) Read(p []byte) (int, error) { return c.r.Read(p[:1]) }

// TestInboundOneByteAtATime: frames cut at every byte (headers of every
// length form, held frames, fragments with control frames between them,
// zero-length fragments) reach the library whole and in order, and the
// budget is given back.
func TestInboundOneByteAtATime(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 9000)
	var in []byte
	for _, f := range [][]byte{
		plainFrame(true, 1, []byte("hi")),
		plainFrame(false, 2, big[:5000]),
		plainFrame(true, 9, []byte("p")),
		plainFrame(false, 0, nil),
		plainFrame(true, 10, nil),
		plainFrame(true, 0, big),
		plainFrame(true, 2, make([]byte, 70000)),
		plainFrame(true, 8, []byte{3, 232}),
	} {
		in = append(in, f...)
	}
	for _, size := range []int{16, readBufSize, 4096} {
		budget := NewBudget(1 << 20)
		g := &inbound{nc: &byteConn{chunkConn{r: bytes.NewReader(in)}}, max: 1 << 20, timeout: time.Minute, budget: budget}
		out, err := io.ReadAll(bufio.NewReaderSize(g, size))
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("library buffer %d: %d of %d bytes came through, equal=%v, %v", size, len(out), len(in), bytes.Equal(out, in), err)
		}
		if n := budget.InUse(); n != 0 {
			t.Fatalf("library buffer %d: %d bytes of budget kept", size, n)
		}
	}
}

// plainFrame is a client frame of data as the guard hands frames on
// (plainHeader, a zero mask key), the whole message when fin.
func plainFrame(fin bool, op byte, data []byte) []byte {
	f := plainHeader(op, len(data))
	if !fin {
		f[0] &^= 0x80
	}
	return append(f, data...)
}
