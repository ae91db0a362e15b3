package cluster

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

var (
	wa = pid.PID{Node: "a", Host: "app:processes", ID: 1<<62 + 5}
	wb = pid.PID{Node: "b", Host: "app:processes", ID: 42}
)

func wireSignals() []process.Signal {
	linkDown := &process.LinkDownError{PID: wa, Reason: &process.LinkDownError{PID: wb, Reason: process.ErrNoConnection}}
	return []process.Signal{
		{Kind: process.SigMessage, From: wa, To: wb, Topic: "@ws.join", Payload: value.MustOf(map[string]any{"x": []any{1, 2.5, "s", []byte{0}}})},
		{Kind: process.SigMessage, To: wb, Topic: "from nobody", Payload: value.Nil()},
		{Kind: process.SigMessage, From: wa, To: wb, Topic: "with a receipt", Payload: value.Int(1), Seq: 1<<63 + 1},
		{Kind: process.SigTaken, From: wa, To: wb, Seq: 1<<63 + 1},
		{Kind: process.SigTaken, From: wa, To: wb, Seq: 1},
		{Kind: process.SigMonitor, From: wa, To: wb},
		{Kind: process.SigMonitor, From: wa, To: wb, Topic: "ws.leave", Payload: value.MustOf(map[string]any{"reason": "node_down"})},
		{Kind: process.SigDemonitor, From: wa, To: wb},
		{Kind: process.SigExit, From: wa, To: wb, Result: process.Result{Value: value.String("done")}},
		{Kind: process.SigExit, From: wa, To: wb, Result: process.Result{Err: process.ErrNoProc}},
		{Kind: process.SigExit, From: wa, To: wb, Result: process.Result{Err: process.ErrTerminated}},
		{Kind: process.SigLink, From: wa, To: wb},
		{Kind: process.SigUnlink, From: wa, To: wb},
		{Kind: process.SigLinkExit, From: wa, To: wb, Result: process.Result{Err: linkDown}},
		{Kind: process.SigLinkExit, From: wa, To: wb, Result: process.Result{Err: errors.New("lua: boom")}},
		{Kind: process.SigCancel, From: wa, To: wb, Reason: "shutdown"},
		{Kind: process.SigTerminate, To: wb},
		{Kind: kindReset},
		{Kind: kindBye},
		{Kind: kindLost},
	}
}

func encodeBatch(sigs []process.Signal) []byte {
	b := appendHeader(nil, "a", 7, 9)
	for _, s := range sigs {
		b = appendSignal(b, s)
	}
	return b
}

func TestWireRoundTrip(t *testing.T) {
	t.Parallel()
	sigs := wireSignals()
	var got []process.Signal
	var h header
	err := decodeBatch(encodeBatch(sigs), "b", func(hh header) bool { h = hh; return true }, func(s process.Signal) { got = append(got, s) })
	if err != nil {
		t.Fatal(err)
	}
	if h.from != "a" || h.fromInc != 7 || h.toInc != 9 {
		t.Fatalf("header %+v", h)
	}
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
	deep = append(deep, byte(process.SigExit))
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
		"zero receiver id":   {append(append([]byte{}, hdr...), byte(process.SigTerminate), 0, 0, 0, 1, 'h', 0), "receiver PID {h|0} is not valid"},
		"long string":        {append(append([]byte{}, hdr...), byte(process.SigTerminate), 0xff, 0xff, 0x03), "is more than the"},
		"empty topic":        {append(append([]byte{}, hdr...), byte(process.SigMessage), 0, 0, 0, 1, 'h', 1, 0, 0), "empty topic"},
		"deep link-down":     {deep, "nested deeper than 16"},
		"bad sender PID":     {append(append([]byte{}, hdr...), byte(process.SigTerminate), 1, 'n', 1, '{', 1), `contains the reserved character '{'`},
		"taken 0":            {append(append([]byte{}, hdr...), byte(process.SigTaken), 0, 0, 0, 1, 'h', 1, 0), "taken number 0"},
		"cut receipt number": {append(append([]byte{}, hdr...), byte(process.SigMessage), 0, 0, 0, 1, 'h', 1, 1, 't', 0, 0x80), "bad varint in the receipt number"},
		"unknown error kind": {append(append([]byte{}, hdr...), byte(process.SigExit), 0, 0, 0, 1, 'h', 1, 0, 99), "unknown error tag 99"},
	} {
		err := decodeBatch(c.in, "b", func(header) bool { return true }, func(process.Signal) {})
		var we *WireError
		if !errors.As(err, &we) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(wireSignals()))
	for _, s := range wireSignals() {
		f.Add(encodeBatch([]process.Signal{s}))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		err := decodeBatch(data, "b", func(header) bool { return true }, func(s process.Signal) {
			n++
			if !control(s.Kind) && (s.To.Node != "b" || s.To.ID == 0 || pid.ValidHostName(s.To.Host) != nil) {
				t.Fatalf("decoded a signal for %v", s.To)
			}
			if s.Kind == process.SigMessage && s.Topic == "" {
				t.Fatal("decoded a message with no topic")
			}
			if s.Kind == process.SigTaken && s.Seq == 0 {
				t.Fatal("decoded an answer for no message")
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
