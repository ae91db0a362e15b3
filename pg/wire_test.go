package pg

import (
	"errors"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

var wm = pid.PID{Node: "b", Host: "app:processes", ID: 1<<62 + 3}

func wireSamples() []string {
	return []string{
		encodeDelta(opJoin, "app:pg", wm, []string{"room", "room", "all"}),
		encodeDelta(opLeave, "app:pg", wm, []string{"room"}),
		encodeSync(opSync, "app:pg", map[string]members{"room": {wm: 2}, "all": {wm: 1}}),
		encodeSync(opAsk, "app:pg", nil),
		encodeCast("app:pg", cast{group: "room", topic: "news", from: pid.PID{Node: "a", Host: "h", ID: 9}, payload: value.MustOf(map[string]any{"x": []any{1, "y"}})}),
		encodeCast("app:pg", cast{group: "room", topic: "news", payload: value.Nil()}),
	}
}

func TestWireRoundTrip(t *testing.T) {
	t.Parallel()
	s := wireSamples()
	m, err := decode(s[0], "b")
	if err != nil || m.op != opJoin || m.scope != "app:pg" || m.member != wm || len(m.groups) != 3 {
		t.Fatalf("join: %+v %v", m, err)
	}
	m, err = decode(s[2], "b")
	if err != nil || m.state["room"][wm] != 2 || m.state["all"][wm] != 1 {
		t.Fatalf("sync: %+v %v", m, err)
	}
	m, err = decode(s[4], "b")
	if err != nil || m.cast.topic != "news" || m.cast.from.Node != "a" || m.cast.payload.Kind() != value.KindMap {
		t.Fatalf("cast: %+v %v", m, err)
	}
	m, err = decode(s[5], "b")
	if err != nil || !m.cast.from.IsZero() {
		t.Fatalf("cast from nobody: %+v %v", m, err)
	}
	for _, bad := range []string{"", "\x01", "\x02\x01\x06app:pg", s[0][:len(s[0])-1], s[0] + "x",
		encodeDelta(opJoin, "app:pg", pid.PID{Host: "h", ID: 0}, []string{"g"}),
		encodeDelta(opJoin, "app:pg", wm, nil),
		encodeDelta(opJoin, "app:pg", wm, []string{""}),
		encodeSync(opSync, "app:pg", map[string]members{"g": {}}),
		encodeCast("app:pg", cast{group: "g", topic: "@ws", from: wm, payload: value.Nil()}),
	} {
		var we *WireError
		if _, err := decode(bad, "b"); !errors.As(err, &we) {
			t.Errorf("decode(%q) = %v, want a *WireError", bad, err)
		}
	}
}

// FuzzDecode plays a hostile peer: any bytes give a message that keeps
// every bound, or a *WireError, never a panic.
func FuzzDecode(f *testing.F) {
	for _, s := range wireSamples() {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decode(string(data), "b")
		if err != nil {
			var we *WireError
			if !errors.As(err, &we) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if m.scope == "" || len(m.scope) > MaxName {
			t.Fatalf("scope %q", m.scope)
		}
		for _, g := range m.groups {
			if g == "" || len(g) > MaxName {
				t.Fatalf("group %q", g)
			}
		}
		n := 0
		for g, ms := range m.state {
			if g == "" || len(ms) == 0 {
				t.Fatalf("group %q with %d members", g, len(ms))
			}
			for p, j := range ms {
				n++
				if p.Node != "b" || p.ID == 0 || j < 1 || j > maxJoins {
					t.Fatalf("member %v joins %d", p, j)
				}
			}
		}
		if n > len(data) {
			t.Fatalf("%d members from %d bytes", n, len(data))
		}
		if m.op == opCast && (m.cast.topic == "" || m.cast.topic[0] == '@') {
			t.Fatalf("topic %q", m.cast.topic)
		}
	})
}
