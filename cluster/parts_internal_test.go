package cluster

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/value"
)

// TestReassemblyRules: each way a run of parts ends early drops it once,
// says why, frees its bytes and skips the rest of its parts; a run that
// completes comes out whole; the bounds on bytes and runs hold.
func TestReassemblyRules(t *testing.T) {
	piece := func(off, n, total int) part {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(off + i)
		}
		return part{total: total, off: off, piece: b}
	}
	type step struct {
		from string
		inc  uint64
		pt   part
		end  bool   // a signal that is not a part, instead of pt
		why  string // the drop this step causes ("": none)
		body int    // bytes of the run it completes
	}
	for name, steps := range map[string][]step{
		"whole": {
			{from: "a", inc: 1, pt: piece(0, 4, 10)}, {from: "a", inc: 1, pt: piece(4, 4, 10)}, {from: "a", inc: 1, pt: piece(8, 2, 10), body: 10},
		},
		"two nodes at once": {
			{from: "a", inc: 1, pt: piece(0, 4, 8)}, {from: "b", inc: 1, pt: piece(0, 4, 8)},
			{from: "b", inc: 1, pt: piece(4, 4, 8), body: 8}, {from: "a", inc: 1, pt: piece(4, 4, 8), body: 8},
		},
		"gap": {
			{from: "a", inc: 1, pt: piece(0, 4, 12)}, {from: "a", inc: 1, pt: piece(8, 4, 12), why: "lost or out of place"},
			{from: "a", inc: 1, pt: piece(0, 4, 4), body: 4},
		},
		"overlap, then the rest skipped": {
			{from: "a", inc: 1, pt: piece(0, 4, 12)}, {from: "a", inc: 1, pt: piece(2, 4, 12), why: "lost or out of place"},
			{from: "a", inc: 1, pt: piece(6, 6, 12)},
		},
		"other total": {
			{from: "a", inc: 1, pt: piece(0, 4, 12)}, {from: "a", inc: 1, pt: piece(4, 4, 13), why: "lost or out of place"},
		},
		"other incarnation": {
			{from: "a", inc: 1, pt: piece(0, 4, 12)}, {from: "a", inc: 2, pt: piece(4, 4, 12), why: "lost or out of place"},
		},
		"first part lost": {
			{from: "a", inc: 1, pt: piece(4, 4, 12), why: "first part of a big batch was lost"}, {from: "a", inc: 1, pt: piece(8, 4, 12)},
			{from: "a", inc: 1, pt: piece(0, 2, 2), body: 2},
		},
		"new run before the end": {
			{from: "a", inc: 1, pt: piece(0, 4, 12)}, {from: "a", inc: 1, pt: piece(0, 4, 8), why: "began before"},
			{from: "a", inc: 1, pt: piece(4, 4, 8), body: 8},
		},
		"signal before the end": {
			{from: "a", inc: 1, pt: piece(0, 4, 12)}, {from: "a", end: true, why: "ended"},
			{from: "a", inc: 1, pt: piece(4, 4, 12), why: "first part of a big batch was lost"},
		},
		"past the bytes bound": {
			{from: "a", inc: 1, pt: piece(0, 60, 200)}, {from: "b", inc: 1, pt: piece(0, 50, 100), why: "MaxReassembly"},
			{from: "a", inc: 1, pt: piece(60, 40, 200)}, // grows to 100: within 100
			{from: "a", inc: 1, pt: piece(100, 1, 200), why: "MaxReassembly"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			var r reassembler
			for i, s := range steps {
				var why []string
				var body []byte
				if s.end {
					if r.end(s.from) {
						why = []string{"ended"}
					}
				} else {
					body, why = r.add(s.from, s.inc, s.pt, 0, 100)
				}
				if got := strings.Join(why, "; "); s.why == "" && got != "" || !strings.Contains(got, s.why) {
					t.Fatalf("step %d: dropped %q, want %q", i, got, s.why)
				}
				if len(body) != s.body {
					t.Fatalf("step %d: %d bytes came out, want %d", i, len(body), s.body)
				}
				for j, c := range body {
					if c != byte(j) {
						t.Fatalf("step %d: byte %d is %d, want %d", i, j, c, byte(j))
					}
				}
				held := 0
				for _, q := range r.runs {
					held += cap(q.buf)
				}
				if held != r.bytes || r.bytes > 100 {
					t.Fatalf("step %d: the runs hold %d bytes, counted %d (bound 100)", i, held, r.bytes)
				}
			}
		})
	}
}

// TestReassemblyRunsBound: past maxPartials runs, a new one is dropped
// (said once), and the orphan parts that follow are skipped silently.
func TestReassemblyRunsBound(t *testing.T) {
	var r reassembler
	for i := range maxPartials {
		if _, why := r.add(string(rune(0x4e00+i)), 1, part{total: 10, off: 0, piece: []byte{1}}, 0, 1<<20); len(why) != 0 {
			t.Fatalf("run %d dropped: %v", i, why)
		}
	}
	if _, why := r.add("last", 1, part{total: 10, off: 0, piece: []byte{1}}, 0, 1<<20); len(why) != 1 || !strings.Contains(why[0], "big batches in progress") {
		t.Fatalf("one run past the bound: %v, want it dropped", why)
	}
	if _, why := r.add("last", 1, part{total: 10, off: 1, piece: []byte{1}}, 0, 1<<20); len(why) != 0 {
		t.Fatalf("its next part: %v, want it skipped without a second drop", why)
	}
	if n, _ := r.size(); n != maxPartials {
		t.Fatalf("%d runs, want %d", n, maxPartials)
	}
	if dropped := r.sweep(1); len(dropped) != maxPartials {
		t.Fatalf("the sweep dropped %d runs, want all %d", len(dropped), maxPartials)
	}
	if n, b := r.size(); n != 0 || b != 0 || r.n.Load() != 0 {
		t.Fatalf("%d runs holding %d bytes after the sweep", n, b)
	}
}

// TestPeerDropForgetsItsRun: when a node goes down, what it had sent of a
// big batch goes too, and counts as dropped.
func TestPeerDropForgetsItsRun(t *testing.T) {
	tr := &Transport{opts: Options{Cluster: "c", MaxBatch: 4096, MaxPending: 1 << 20}}
	p := newPeer(tr, "b")
	if _, why := tr.asm.add("b", 1, part{total: 10, off: 0, piece: []byte{1, 2}}, 0, 1<<20); len(why) != 0 {
		t.Fatal(why)
	}
	p.drop(tr)
	if n, b := tr.asm.size(); n != 0 || b != 0 || tr.stats.partialsDropped.Load() != 1 {
		t.Fatalf("after the node's loss: %d runs holding %d bytes, %d dropped; want none, and 1 dropped", n, b, tr.stats.partialsDropped.Load())
	}
}

// TestTooLargeSignal: a signal past the bound (MaxSignal; lowered here)
// is refused with ErrTooLarge naming its size and the bound, and nothing
// is queued; an EXIT or LINK_DOWN that large, whose sender cannot hear of
// a failure, is queued with an error saying so in place of its reason.
func TestTooLargeSignal(t *testing.T) {
	tr := &Transport{opts: Options{Cluster: "c", MaxBatch: 4096, MaxPending: 1 << 20}, maxSignal: 1000}
	tr.hdr = appendHeader(nil, "a", 1, 0)
	p := newPeer(tr, "b")
	big := value.BytesString(strings.Repeat("x", 1000))
	err := p.enqueue(tr, transport.Signal{Kind: transport.SigMessage, From: wa, To: wb, Topic: "t", Payload: big})
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "at most 1000") {
		t.Fatalf("a message past the bound: %v, want ErrTooLarge naming the bound", err)
	}
	if p.pending != 0 || len(p.chunks) != 0 {
		t.Fatalf("%d bytes queued for a refused signal", p.pending)
	}
	kinds := []transport.SignalKind{transport.SigExit, transport.SigLinkExit}
	for _, k := range kinds {
		if err := p.enqueue(tr, transport.Signal{Kind: k, From: wa, To: wb, Result: transport.Result{Value: big}}); err != nil {
			t.Fatalf("kind %d with a reason past the bound: %v, want it queued", k, err)
		}
	}
	var got []transport.Signal
	if err := decodeBatch(p.chunks[0], "b", func(header) bool { return true }, func(s transport.Signal) { got = append(got, s) }, nil); err != nil {
		t.Fatal(err)
	}
	for i, s := range got {
		var re *RemoteError
		if s.Kind != kinds[i] || !s.Result.Value.IsNil() || !errors.As(s.Result.Err, &re) || !strings.Contains(re.Text, "exit reason, 1") {
			t.Fatalf("signal %d: %+v, want kind %d with an error saying the exit reason is too large", i, s, kinds[i])
		}
	}
}
