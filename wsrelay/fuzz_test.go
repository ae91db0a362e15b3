package wsrelay

import (
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
)

// FuzzParseHeader: any header text is parsed or refused with a
// HeaderError, never a panic; what parses has a target and a valid topic.
func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{
		`{"target_pid":"{n1@app:processes|42}","message_topic":"ws.message","heartbeat_interval":"30s","metadata":{"user_id":"7"}}`,
		`{"target_pid":"{app:processes|1}","metadata":[]}`,
		`{"target_pid":"{a|1}","metadata":null,"heartbeat_interval":"0s"}`,
		`{"target_pid":42}`, `[]`, `{`, ``, `{"target_pid":"{x@y|1}","extra":true}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeader(s)
		if err != nil {
			if _, ok := err.(*HeaderError); !ok {
				t.Fatalf("error %T %v", err, err)
			}
			return
		}
		if h.Target.IsZero() || h.Topic == "" || h.Topic[0] == '@' || h.Metadata.Kind() != value.KindMap || h.Heartbeat < 0 {
			t.Fatalf("parsed %q into %+v", s, h)
		}
	})
}

// FuzzPayloads: whatever JSON a process sends as ws.send, ws.close or
// ws.control payload is used or refused, never a panic; close codes and
// reasons that come out may be sent, and text frames are UTF-8.
func FuzzPayloads(f *testing.F) {
	for _, s := range []string{
		`{"type":"text","data":"hi"}`, `{"type":"binary","data":"\u0000"}`, `{"data":{"a":[1,2]}}`, `"plain"`,
		`{"code":1000,"reason":"bye"}`, `{"code":1005}`, `null`, `{"code":4000.5}`,
		`{"target_pid":"{n@h|1}","message_topic":"t","metadata":{},"heartbeat_interval":"1s"}`, `{"colour":1}`, `[1,2]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := value.ParseJSON([]byte(s))
		if err != nil {
			return
		}
		if fr, err := parseSend(v, DefaultOutboundMaxBytes); err == nil && fr.op == 1 && !utf8.Valid(fr.data) {
			t.Fatalf("a text frame of invalid UTF-8 from %s", s)
		}
		if code, reason, _, err := parseClose(v); err == nil {
			if !SendableCode(code) || len(reason) > MaxReason || !utf8.ValidString(reason) {
				t.Fatalf("close %d %q from %s", code, reason, s)
			}
		}
		if c, err := parseControl(v); err == nil && c.topic != nil && (*c.topic == "" || strings.HasPrefix(*c.topic, "@")) {
			t.Fatalf("control topic %q from %s", *c.topic, s)
		}
		if _, err := topicFrame("t", v, math.MaxInt); err != nil {
			t.Fatalf("a parsed JSON value could not be framed: %v", err)
		}
	})
}

func TestTruncateReason(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"short", "short"},
		{strings.Repeat("a", 123), strings.Repeat("a", 123)},
		{strings.Repeat("a", 124), strings.Repeat("a", 123)},
		{strings.Repeat("é", 62), strings.Repeat("é", 61)}, // 124 bytes: cut before the split character
		{"bad\xffbyte", "bad\uFFFDbyte"},
	} {
		if got := TruncateReason(tc.in); got != tc.want {
			t.Errorf("TruncateReason(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHeaderStringRoundTrip(t *testing.T) {
	h := Header{Target: mustParsePID("{n1@app:processes|42}"), Topic: "chat.in", Heartbeat: 1500 * time.Millisecond, Metadata: value.MustOf(map[string]any{"u": "ada"})}
	got, err := ParseHeader(h.String())
	if err != nil || got.Target != h.Target || got.Topic != h.Topic || got.Heartbeat != h.Heartbeat || !value.Equal(got.Metadata, h.Metadata) {
		t.Fatalf("%s parsed back as %+v, %v", h.String(), got, err)
	}
	min, err := ParseHeader(Header{Target: h.Target}.String())
	if err != nil || min.Topic != DefaultTopic || min.Heartbeat != 0 || min.Metadata.Len() != 0 {
		t.Fatalf("defaults: %+v %v", min, err)
	}
}

func mustParsePID(s string) pid.PID {
	p, err := pid.Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}
