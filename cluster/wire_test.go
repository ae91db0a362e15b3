package cluster

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
)

var (
	wa = pid.PID{Node: "a", Host: "app:processes", ID: 1<<62 + 5}
	wb = pid.PID{Node: "b", Host: "app:processes", ID: 42}
)

func wireSignals() []transport.Signal {
	linkDown := &process.LinkDownError{PID: wa, Reason: &process.LinkDownError{PID: wb, Reason: process.ErrNoConnection}}
	return []transport.Signal{
		{Kind: transport.SigMessage, From: wa, To: wb, Topic: "@ws.join", Payload: value.MustOf(map[string]any{"x": []any{1, 2.5, "s", []byte{0}}})},
		{Kind: transport.SigMessage, To: wb, Topic: "from nobody", Payload: value.Nil()},
		{Kind: transport.SigMessage, From: wa, To: wb, Topic: "with a receipt", Payload: value.Int(1), Seq: 1<<63 + 1},
		{Kind: transport.SigTaken, From: wa, To: wb, Seq: 1<<63 + 1},
		{Kind: transport.SigTaken, From: wa, To: wb, Seq: 1},
		{Kind: transport.SigMonitor, From: wa, To: wb},
		{Kind: transport.SigMonitor, From: wa, To: wb, Topic: "ws.leave", Payload: value.MustOf(map[string]any{"reason": "node_down"})},
		{Kind: transport.SigDemonitor, From: wa, To: wb},
		{Kind: transport.SigExit, From: wa, To: wb, Result: transport.Result{Value: value.String("done")}},
		{Kind: transport.SigExit, From: wa, To: wb, Result: transport.Result{Err: process.ErrNoProc}},
		{Kind: transport.SigExit, From: wa, To: wb, Result: transport.Result{Err: process.ErrTerminated}},
		{Kind: transport.SigLink, From: wa, To: wb},
		{Kind: transport.SigUnlink, From: wa, To: wb},
		{Kind: transport.SigLinkExit, From: wa, To: wb, Result: transport.Result{Err: linkDown}},
		{Kind: transport.SigLinkExit, From: wa, To: wb, Result: transport.Result{Err: errors.New("lua: boom")}},
		{Kind: transport.SigCancel, From: wa, To: wb, Reason: "shutdown"},
		{Kind: transport.SigTerminate, To: wb},
		{Kind: kindReset},
		{Kind: kindBye},
		{Kind: kindLost},
		{Kind: kindGroup, Reason: "\x01opaque group bytes"},
	}
}

func encodeBatch(sigs []transport.Signal) []byte {
	b := appendHeader(nil, "a", 7, 9)
	for _, s := range sigs {
		b = appendSignal(b, s)
	}
	return b
}

func TestWireRoundTrip(t *testing.T) {
	t.Parallel()
	sigs := wireSignals()
	var got []transport.Signal
	var h header
	err := decodeBatch(encodeBatch(sigs), "b", func(hh header) bool { h = hh; return true }, func(s transport.Signal) { got = append(got, s) }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.from != "a" || h.fromInc != 7 || h.toInc != 9 {
		t.Fatalf("header %+v", h)
	}
	checkSignals(t, got, sigs)
}

// TestWireRoundTripInParts: a batch cut into parts for a small max payload
// (every message within it) comes out whole, in order, once its last part
// is in.
func TestWireRoundTripInParts(t *testing.T) {
	t.Parallel()
	sigs := wireSignals()
	batch := encodeBatch(sigs)
	hdr := len(appendHeader(nil, "a", 7, 9))
	const limit = 100
	var asm reassembler
	var got []transport.Signal
	n, err := splitParts(batch, hdr, limit, func(m []byte) error {
		if len(m) > limit {
			t.Fatalf("a %d-byte part for a max payload of %d", len(m), limit)
		}
		if len(got) != 0 {
			t.Fatal("signals applied before the last part")
		}
		return decodeBatch(m, "b", func(header) bool { return true }, func(s transport.Signal) {
			t.Fatalf("a signal (kind %d) outside the parts", s.Kind)
		}, func(pt part) {
			body, why := asm.add("a", 7, pt, 0, 1<<20)
			if len(why) != 0 {
				t.Fatalf("run dropped: %v", why)
			}
			if body != nil {
				if err := decodeSignals(body, "b", func(s transport.Signal) { got = append(got, s) }); err != nil {
					t.Fatal(err)
				}
			}
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (len(batch) - hdr + limit - hdr - partOverhead - 1) / (limit - hdr - partOverhead); n != want {
		t.Errorf("%d parts, want %d", n, want)
	}
	checkSignals(t, got, sigs)
	if runs, bytes := asm.size(); runs != 0 || bytes != 0 {
		t.Errorf("%d runs holding %d bytes left once the batch was applied", runs, bytes)
	}
}

func checkSignals(t *testing.T, got, sigs []transport.Signal) {
	t.Helper()
	if len(got) != len(sigs) {
		t.Fatalf("%d signals decoded, %d sent", len(got), len(sigs))
	}
	for i, w := range sigs {
		g := got[i]
		if control(w.Kind) {
			if g.Kind != w.Kind {
				t.Errorf("signal %d: %v, want control signal %v", i, g.Kind, w.Kind)
			}
			continue
		}
		if g.Kind != w.Kind || g.From != w.From || g.To != w.To || g.Topic != w.Topic || g.Reason != w.Reason || g.Seq != w.Seq ||
			!value.Equal(g.Payload, w.Payload) || !value.Equal(g.Result.Value, w.Result.Value) {
			t.Errorf("signal %d: got %+v, want %+v", i, g, w)
		}
		if (w.Result.Err == nil) != (g.Result.Err == nil) || w.Result.Err != nil && w.Result.Err.Error() != g.Result.Err.Error() {
			t.Errorf("signal %d: error %v, want %v", i, g.Result.Err, w.Result.Err)
		}
		for _, sentinel := range []error{process.ErrNoProc, process.ErrTerminated, process.ErrNoConnection, process.ErrLinkDown} {
			if errors.Is(w.Result.Err, sentinel) != errors.Is(g.Result.Err, sentinel) {
				t.Errorf("signal %d: errors.Is(%v, %v) changed across the wire", i, g.Result.Err, sentinel)
			}
		}
	}
}

func TestWireRejectsBadBatches(t *testing.T) {
	t.Parallel()
	good := encodeBatch(wireSignals()[:1])
	hdr := appendHeader(nil, "a", 7, 9)
	deep := hdr
	deep = append(deep, byte(transport.SigExit))
	deep = appendPID(deep, wa)
	deep = appendString(deep, "h")
	deep = append(deep, 1, 0) // id 1, nil value
	for range maxErrDepth + 1 {
		deep = appendPID(append(deep, errLinkDown), wa)
	}
	deep = append(deep, errNone)
	for name, c := range map[string]struct {
		in   []byte
		want string
	}{
		"empty":              {nil, "input ends before the version"},
		"version":            {append([]byte{9}, good[1:]...), "unknown wire version 9"},
		"cut header":         {good[:5], "input ends inside the sender incarnation"},
		"bad sender":         {appendHeader(nil, "a b", 1, 0), `node name "a b" contains a space`},
		"cut signal":         {good[:len(good)-3], "payload"},
		"unknown kind":       {append(append([]byte{}, hdr...), 77, 0, 0, 0, 1, 'h', 1), "unknown signal kind 77"},
		"zero receiver id":   {append(append([]byte{}, hdr...), byte(transport.SigTerminate), 0, 0, 0, 1, 'h', 0), "receiver PID {h|0} is not valid"},
		"long string":        {append(append([]byte{}, hdr...), byte(transport.SigTerminate), 0xff, 0xff, 0x03), "is more than the"},
		"empty topic":        {append(append([]byte{}, hdr...), byte(transport.SigMessage), 0, 0, 0, 1, 'h', 1, 0, 0), "empty topic"},
		"deep link-down":     {deep, "nested deeper than 16"},
		"bad sender PID":     {append(append([]byte{}, hdr...), byte(transport.SigTerminate), 1, 'n', 1, '{', 1), `contains the reserved character '{'`},
		"taken 0":            {append(append([]byte{}, hdr...), byte(transport.SigTaken), 0, 0, 0, 1, 'h', 1, 0), "taken number 0"},
		"cut receipt number": {append(append([]byte{}, hdr...), byte(transport.SigMessage), 0, 0, 0, 1, 'h', 1, 1, 't', 0, 0x80), "bad varint in the receipt number"},
		"unknown error kind": {append(append([]byte{}, hdr...), byte(transport.SigExit), 0, 0, 0, 1, 'h', 1, 0, 99), "unknown error tag 99"},
		"part total 0":       {append(append([]byte{}, hdr...), byte(kindPart), 0, 0, 1, 'x'), "part total 0 is not between 1 and 67108864"},
		"huge part total":    {append(binary.AppendUvarint(append(append([]byte{}, hdr...), byte(kindPart)), MaxSignal+1), 0, 1, 'x'), "part total 67108865 is not between 1"},
		"empty part":         {append(append([]byte{}, hdr...), byte(kindPart), 5, 0, 0), "empty part"},
		"cut part":           {append(append([]byte{}, hdr...), byte(kindPart), 5, 0, 3, 'x'), "part length 3 is more than the 1 byte(s) left"},
		"part past total":    {append(append([]byte{}, hdr...), byte(kindPart), 5, 4, 2, 'x', 'y'), "part of 2 byte(s) at offset 4 passes its total 5"},
		"part at total":      {append(append([]byte{}, hdr...), byte(kindPart), 5, 5, 1, 'x'), "at offset 5 passes its total 5"},
		"cut part offset":    {append(append([]byte{}, hdr...), byte(kindPart), 5, 0x80), "bad varint in the part offset"},
	} {
		err := decodeBatch(c.in, "b", func(header) bool { return true }, func(transport.Signal) {}, func(part) {})
		var we *WireError
		if !errors.As(err, &we) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
	// Parts do not nest: reassembled signals hold none.
	nested := appendPart(nil, 10, 0, []byte("x"))
	var we *WireError
	if err := decodeSignals(nested, "b", func(transport.Signal) {}); !errors.As(err, &we) || !strings.Contains(err.Error(), "a part among reassembled signals") {
		t.Errorf("a part among reassembled signals: %v, want an error saying so", err)
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(wireSignals()))
	for _, s := range wireSignals() {
		f.Add(encodeBatch([]transport.Signal{s}))
	}
	batch := encodeBatch(wireSignals())
	_, _ = splitParts(batch, len(appendHeader(nil, "a", 7, 9)), 120, func(m []byte) error {
		f.Add(append([]byte{}, m...))
		return nil
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		check := func(s transport.Signal) {
			n++
			if s.Kind == kindGroup {
				if s.Reason == "" || len(s.Reason) > len(data) {
					t.Fatalf("decoded group data of %d byte(s) from %d", len(s.Reason), len(data))
				}
				return
			}
			if !control(s.Kind) && (s.To.Node != "b" || s.To.ID == 0 || pid.ValidHostName(s.To.Host) != nil) {
				t.Fatalf("decoded a signal for %v", s.To)
			}
			if s.Kind == transport.SigMessage && s.Topic == "" {
				t.Fatal("decoded a message with no topic")
			}
			if s.Kind == transport.SigTaken && s.Seq == 0 {
				t.Fatal("decoded an answer for no message")
			}
		}
		err := decodeBatch(data, "b", func(header) bool { return true }, check, func(pt part) {
			n++
			if len(pt.piece) == 0 || pt.off < 0 || pt.off+len(pt.piece) > pt.total || pt.total > MaxSignal {
				t.Fatalf("decoded a part of %d byte(s) at %d of %d", len(pt.piece), pt.off, pt.total)
			}
			if err := decodeSignals(pt.piece, "b", check); err != nil {
				var we *WireError
				if !errors.As(err, &we) {
					t.Fatalf("error of type %T: %v", err, err)
				}
			}
		})
		if n > len(data) {
			t.Fatalf("%d signals from %d bytes", n, len(data))
		}
		var we *WireError
		if err != nil && !errors.As(err, &we) {
			t.Fatalf("error of type %T: %v", err, err)
		}
	})
}

// FuzzReassembly plays hostile peers at the reassembler: the input is a
// stream of records, each a byte saying who sends (one of four nodes, two
// incarnations; the top bit: a signal that is not a part, or the node
// going down, ends its run) then a part as on the wire. Whatever comes,
// the runs stay within their bounds (bytes as counted, capacity included,
// and count), the count matches the buffers, and what completes is
// exactly its total.
func FuzzReassembly(f *testing.F) {
	batch := encodeBatch(wireSignals())
	var parts [][]byte
	_, _ = splitParts(batch, len(appendHeader(nil, "a", 7, 9)), 120, func(m []byte) error {
		parts = append(parts, append([]byte{}, m[len(appendHeader(nil, "a", 7, 9))+1:]...)) // the part, kind byte off
		return nil
	})
	var whole, gap, twice []byte
	for i, p := range parts {
		whole = append(append(whole, 0), p...)
		if i != 1 {
			gap = append(append(gap, 1), p...)
		}
		twice = append(append(twice, byte(i%2)), p...)
	}
	f.Add(whole)
	f.Add(gap)
	f.Add(twice)
	f.Add(append(append([]byte{}, whole[:40]...), 0x80))
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 300
		var asm reassembler
		r := reader{b: data}
		for !r.done() {
			who := r.byte1("who")
			from := string(rune('a' + who%4))
			if who&0x80 != 0 {
				asm.end(from)
				continue
			}
			pt := r.part()
			if r.err != nil {
				break
			}
			body, _ := asm.add(from, uint64(who/4%2), pt, int64(r.off), limit)
			if body != nil && len(body) != pt.total {
				t.Fatalf("a run of %d bytes completed with %d", pt.total, len(body))
			}
			asm.sweep(int64(r.off) - 200)
			asm.mu.Lock()
			held := 0
			for _, q := range asm.runs {
				held += cap(q.buf)
				if q.buf != nil && (len(q.buf) != q.next || cap(q.buf) > q.total) {
					t.Fatalf("a run holds %d bytes (capacity %d) at %d of %d", len(q.buf), cap(q.buf), q.next, q.total)
				}
			}
			if held != asm.bytes || asm.bytes > limit || len(asm.runs) > maxPartials || asm.n.Load() != int64(len(asm.runs)) {
				t.Fatalf("runs hold %d bytes, counted %d (bound %d); %d runs, counted %d", held, asm.bytes, limit, len(asm.runs), asm.n.Load())
			}
			asm.mu.Unlock()
		}
	})
}
