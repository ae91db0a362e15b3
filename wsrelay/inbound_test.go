package wsrelay

import (
	"bytes"
	"compress/flate"
	"fmt"
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

// recorder is a frameSink that keeps what the reader hands on.
type recorder struct {
	got    []string // "op:data" per message, "ping:payload", "close:code"
	failed *frameError
}

func (r *recorder) frameIn(op opcode, s string)        { r.got = append(r.got, fmt.Sprintf("%d:%s", op, s)) }
func (r *recorder) pingIn(p []byte)                    { r.got = append(r.got, "ping:"+string(p)) }
func (r *recorder) touch()                             {}
func (r *recorder) closeIn(code int, _ string)         { r.got = append(r.got, fmt.Sprintf("close:%d", code)) }
func (r *recorder) clientFailed(fe *frameError)        { r.failed = fe }
func (r *recorder) budgetWait(bool)                    {}
func (r *recorder) message(op opcode, p []byte) string { return fmt.Sprintf("%d:%s", op, p) }

// testInbound is a reader of in, in random pieces, into a recorder.
func testInbound(conn net.Conn, max int64, deflate bool, budget *Budget) (*inbound, *recorder) {
	rec := &recorder{}
	g := &inbound{nc: conn, c: rec, max: max, deflate: deflate, timeout: time.Minute, budget: budget}
	return g, rec
}

// maskedClientFrame is a client frame of data, masked with a key drawn
// from rnd (a zero key when rnd is nil).
func maskedClientFrame(fin bool, rsv, op byte, data []byte, rnd *rand.Rand) []byte {
	b0 := op | rsv<<4
	if fin {
		b0 |= 0x80
	}
	f := []byte{b0}
	switch n := len(data); {
	case n < 126:
		f = append(f, 0x80|byte(n))
	case n <= 0xffff:
		f = append(f, 0x80|126, byte(n>>8), byte(n))
	default:
		f = append(f, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	var key [4]byte
	if rnd != nil {
		for i := range key {
			key[i] = byte(rnd.IntN(256))
		}
	}
	f = append(f, key[:]...)
	for i, b := range data {
		f = append(f, b^key[i&3])
	}
	return f
}

// TestInboundPassesValidStreams: a stream of valid frames (small, held,
// fragmented, with control frames between fragments), read in random
// pieces, reaches the connection message for message, and every held
// frame's budget is given back.
func TestInboundPassesValidStreams(t *testing.T) {
	for seed := range uint64(50) {
		rnd := rand.New(rand.NewPCG(seed, 1))
		var in []byte
		var want []string
		for range 40 {
			size := rnd.IntN(200)
			if rnd.IntN(3) == 0 {
				size = rnd.IntN(30000)
			}
			p := make([]byte, size)
			for i := range p {
				p[i] = byte(rnd.IntN(256))
			}
			switch rnd.IntN(4) {
			case 0:
				in = append(in, maskedClientFrame(false, 0, 2, p[:size/2], rnd)...)
				in = append(in, maskedClientFrame(true, 0, 9, []byte("ping"), rnd)...)
				in = append(in, maskedClientFrame(true, 0, 0, p[size/2:], rnd)...)
				want = append(want, "ping:ping", fmt.Sprintf("2:%s", p))
			case 1:
				in = append(in, maskedClientFrame(true, 0, 10, p[:min(size, 125)], rnd)...)
			default:
				in = append(in, maskedClientFrame(true, 0, 2, p, rnd)...)
				want = append(want, fmt.Sprintf("2:%s", p))
			}
		}
		budget := NewBudget(1 << 20)
		g, rec := testInbound(&chunkConn{r: bytes.NewReader(in), rnd: rnd}, 1<<20, false, budget)
		err := g.run()
		g.releaseAll()
		if rec.failed != nil || fmt.Sprint(rec.got) != fmt.Sprint(want) {
			t.Fatalf("seed %d: %d of %d messages came through equal, failed %v, %v", seed, len(rec.got), len(want), rec.failed, err)
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
		{"text that is not UTF-8", maskedClientFrame(true, 0, 1, []byte{'a', 0xff}, nil), 1007},
		{"close with a 1-byte payload", maskedClientFrame(true, 0, 8, []byte{3}, nil), 1002},
	} {
		g, rec := testInbound(&chunkConn{r: bytes.NewReader(tc.in), rnd: rand.New(rand.NewPCG(1, 2))}, 1<<20, false, NewBudget(0))
		err := g.run()
		fe, ok := err.(*frameError)
		if !ok || fe.Code != tc.code || rec.failed != fe {
			t.Errorf("%s: %v, want close %d", tc.name, err, tc.code)
		}
	}
}

// TestInboundInflates: a compressed message, whole or in fragments, is
// handed on inflated; its budget is given back.
func TestInboundInflates(t *testing.T) {
	text := bytes.Repeat([]byte("compressible "), 5000)
	var z bytes.Buffer
	w, _ := flate.NewWriter(&z, flate.BestCompression)
	w.Write(text)
	w.Flush()
	c := bytes.TrimSuffix(z.Bytes(), []byte{0, 0, 0xff, 0xff})
	rnd := rand.New(rand.NewPCG(3, 4))
	in := maskedClientFrame(true, 4, 1, c, rnd)
	in = append(in, maskedClientFrame(false, 4, 2, c[:10], rnd)...)
	in = append(in, maskedClientFrame(true, 0, 0, c[10:], rnd)...)
	budget := NewBudget(1 << 20)
	g, rec := testInbound(&chunkConn{r: bytes.NewReader(in), rnd: rnd}, 1<<20, true, budget)
	g.run()
	g.releaseAll()
	want := []string{rec.message(1, text), rec.message(2, text)}
	if fmt.Sprint(rec.got) != fmt.Sprint(want) || rec.failed != nil {
		t.Fatalf("%d messages, failed %v", len(rec.got), rec.failed)
	}
	if budget.InUse() != 0 {
		t.Fatalf("%d bytes of budget kept", budget.InUse())
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

// countSink counts messages and stops the reader after n.
type countSink struct {
	recorder
	n, left int
}

func (s *countSink) frameIn(opcode, string) {
	if s.left--; s.left == 0 {
		panic(errStop)
	}
}

var errStop = fmt.Errorf("stop")

// BenchmarkInbound: what reading costs per frame, header check, unmask
// and the message's string included. One op is one frame.
func BenchmarkInbound(b *testing.B) {
	for _, size := range []int{64, 1024, 65536} {
		rnd := rand.New(rand.NewPCG(1, 1))
		var stream []byte
		for len(stream) < 1<<20 {
			stream = append(stream, maskedClientFrame(true, 0, 2, make([]byte, size), rnd)...)
		}
		b.Run(fmt.Sprintf("frame/%d", size), func(b *testing.B) {
			sink := &countSink{}
			g := &inbound{nc: &loopConn{data: stream}, c: sink, max: 1 << 20, timeout: time.Minute, budget: NewBudget(0)}
			b.SetBytes(int64(size))
			b.ReportAllocs()
			sink.left = b.N
			b.ResetTimer()
			func() {
				defer func() {
					if v := recover(); v != nil && v != errStop {
						panic(v)
					}
				}()
				g.run()
			}()
		})
	}
}

// FuzzInbound: any bytes, read in any pieces, go through the reader
// without a panic; a refusal carries a close code the RFC allows for it,
// and the budget is given back.
func FuzzInbound(f *testing.F) {
	f.Add([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}, uint64(1), true)
	f.Add(maskedClientFrame(true, 0, 1, []byte("hello"), nil), uint64(2), false)
	f.Add(append(maskedClientFrame(false, 0, 2, make([]byte, 5000), nil), maskedClientFrame(true, 0, 0, []byte("x"), nil)...), uint64(3), false)
	f.Add([]byte{0xc1, 0x85, 0, 0, 0, 0, 0xf2, 0x48, 0xcd, 0xc9, 0xc9}, uint64(4), true)
	f.Add(maskedClientFrame(true, 0, 8, []byte{3, 232, 'o', 'k'}, nil), uint64(5), false)
	f.Fuzz(func(t *testing.T, in []byte, seed uint64, deflate bool) {
		g, rec := testInbound(&chunkConn{r: bytes.NewReader(in), rnd: rand.New(rand.NewPCG(seed, 7))}, 100000, deflate, NewBudget(1<<20))
		err := g.run()
		if fe, ok := err.(*frameError); ok {
			switch fe.Code {
			case 1002, 1007, 1009:
			default:
				t.Fatalf("close %d", fe.Code)
			}
			if rec.failed != fe {
				t.Fatalf("refused with %v, but the connection was told %v", fe, rec.failed)
			}
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
// zero-length fragments) reach the connection whole and in order, and
// the budget is given back.
func TestInboundOneByteAtATime(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 9000)
	rnd := rand.New(rand.NewPCG(5, 6))
	var in []byte
	for _, f := range [][]byte{
		maskedClientFrame(true, 0, 1, []byte("hi"), rnd),
		maskedClientFrame(false, 0, 2, big[:5000], rnd),
		maskedClientFrame(true, 0, 9, []byte("p"), rnd),
		maskedClientFrame(false, 0, 0, nil, rnd),
		maskedClientFrame(true, 0, 10, nil, rnd),
		maskedClientFrame(true, 0, 0, big, rnd),
		maskedClientFrame(true, 0, 2, make([]byte, 70000), rnd),
		maskedClientFrame(true, 0, 8, []byte{3, 232}, rnd),
	} {
		in = append(in, f...)
	}
	budget := NewBudget(1 << 20)
	g, rec := testInbound(&byteConn{chunkConn{r: bytes.NewReader(in)}}, 1<<20, false, budget)
	g.run()
	g.releaseAll()
	want := []string{"1:hi", "ping:p", rec.message(2, append(big[:5000:5000], big...)), rec.message(2, make([]byte, 70000)), "close:1000"}
	if fmt.Sprint(rec.got) != fmt.Sprint(want) || rec.failed != nil {
		t.Fatalf("%d messages of %d came through equal, failed %v", len(rec.got), len(want), rec.failed)
	}
	if n := budget.InUse(); n != 0 {
		t.Fatalf("%d bytes of budget kept", n)
	}
}
