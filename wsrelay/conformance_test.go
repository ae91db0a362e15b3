package wsrelay_test

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// The protocol conformance test: a raw-frame client, written from RFC
// 6455, against the relay with an echo target. Each case sends frames and
// expects an echo, a pong, or a close frame with a code.

const confMax = 100000 // the relay's max message size in these cases

type expect struct {
	echo      []string // messages echoed back, in order ("" entries allowed)
	echoOp    byte     // their opcode (default text)
	pong      *[]byte  // a pong with this payload, before anything else
	closeCode int      // the close code the server must send
	closeAny  bool     // any close frame whose code is not 1002/1007/1009
}

func closeFrame(code int, reason string) []byte {
	p := binary.BigEndian.AppendUint16(nil, uint16(code))
	return append(p, reason...)
}

func bytesPtr(b []byte) *[]byte { return &b }

func TestProtocolConformance(t *testing.T) {
	e := newEnv(t, wsrelay.Options{MaxMessageSize: confMax})
	tg := e.target(true)
	e.relayTo(tg.PID, "")
	big16 := strings.Repeat("m", 200)
	big64 := strings.Repeat("L", 70000)
	r125 := bytes.Repeat([]byte{'p'}, 125)
	type fr = func(c *wsclient.Client)
	w := func(fin bool, rsv, op byte, p []byte) fr {
		return func(c *wsclient.Client) { c.WriteFrame(fin, rsv, op, p, true) }
	}
	seq := func(fs ...fr) fr {
		return func(c *wsclient.Client) {
			for _, f := range fs {
				f(c)
			}
		}
	}
	text := func(s string) fr { return w(true, 0, wsclient.OpText, []byte(s)) }
	cases := []struct {
		group, name string
		send        fr
		want        expect
	}{
		// Framing (RFC 6455 5.1, 5.2)
		{"framing", "masked text is relayed", text("hello"), expect{echo: []string{"hello"}}},
		{"framing", "unmasked client frame is refused", func(c *wsclient.Client) { c.WriteFrame(true, 0, wsclient.OpText, []byte("x"), false) }, expect{closeCode: 1002}},
		{"framing", "16-bit length", text(big16), expect{echo: []string{big16}}},
		{"framing", "64-bit length", text(big64), expect{echo: []string{big64}}},
		{"framing", "empty text message", text(""), expect{echo: []string{""}}},
		{"framing", "binary message, exact bytes", w(true, 0, wsclient.OpBinary, []byte{0, 255, 1, 254}), expect{echo: []string{"\x00\xff\x01\xfe"}, echoOp: wsclient.OpBinary}},
		{"framing", "pipelined messages keep order", seq(text("1"), text("2"), text("3")), expect{echo: []string{"1", "2", "3"}}},
		// Ping and pong (5.5.2, 5.5.3)
		{"ping", "ping is answered with its payload", w(true, 0, wsclient.OpPing, []byte("are you there")), expect{pong: bytesPtr([]byte("are you there"))}},
		{"ping", "empty ping, empty pong", w(true, 0, wsclient.OpPing, nil), expect{pong: bytesPtr(nil)}},
		{"ping", "125-byte ping", w(true, 0, wsclient.OpPing, r125), expect{pong: bytesPtr(r125)}},
		{"ping", "126-byte ping is too long for a control frame", w(true, 0, wsclient.OpPing, append(r125, 'x')), expect{closeCode: 1002}},
		{"ping", "unsolicited pong is ignored", seq(w(true, 0, wsclient.OpPong, []byte("x")), text("after")), expect{echo: []string{"after"}}},
		{"ping", "ping between fragments", seq(w(false, 0, wsclient.OpText, []byte("frag")), w(true, 0, wsclient.OpPing, []byte("mid")), w(true, 0, wsclient.OpContinuation, []byte("ment"))),
			expect{pong: bytesPtr([]byte("mid")), echo: []string{"fragment"}}},
		// Reserved bits and opcodes (5.2)
		{"reserved", "RSV1 without an extension", w(true, 4, wsclient.OpText, []byte("x")), expect{closeCode: 1002}},
		{"reserved", "RSV2", w(true, 2, wsclient.OpText, []byte("x")), expect{closeCode: 1002}},
		{"reserved", "RSV3", w(true, 1, wsclient.OpText, []byte("x")), expect{closeCode: 1002}},
		{"reserved", "opcode 3", w(true, 0, 3, []byte("x")), expect{closeCode: 1002}},
		{"reserved", "opcode 7", w(true, 0, 7, nil), expect{closeCode: 1002}},
		{"reserved", "opcode 0xB", w(true, 0, 0xB, nil), expect{closeCode: 1002}},
		{"reserved", "opcode 0xF", w(true, 0, 0xF, []byte("x")), expect{closeCode: 1002}},
		// Fragmentation (5.4)
		{"fragments", "text in three fragments", seq(w(false, 0, wsclient.OpText, []byte("a")), w(false, 0, wsclient.OpContinuation, []byte("b")), w(true, 0, wsclient.OpContinuation, []byte("c"))), expect{echo: []string{"abc"}}},
		{"fragments", "binary in two fragments", seq(w(false, 0, wsclient.OpBinary, []byte{1}), w(true, 0, wsclient.OpContinuation, []byte{2})), expect{echo: []string{"\x01\x02"}, echoOp: wsclient.OpBinary}},
		{"fragments", "empty fragments", seq(w(false, 0, wsclient.OpText, nil), w(false, 0, wsclient.OpContinuation, nil), w(true, 0, wsclient.OpContinuation, []byte("z"))), expect{echo: []string{"z"}}},
		{"fragments", "continuation without a start", w(true, 0, wsclient.OpContinuation, []byte("x")), expect{closeCode: 1002}},
		{"fragments", "new message inside a fragmented one", seq(w(false, 0, wsclient.OpText, []byte("a")), w(true, 0, wsclient.OpText, []byte("b"))), expect{closeCode: 1002}},
		{"fragments", "fragmented ping", w(false, 0, wsclient.OpPing, []byte("x")), expect{closeCode: 1002}},
		{"fragments", "fragmented close", w(false, 0, wsclient.OpClose, closeFrame(1000, "")), expect{closeCode: 1002}},
		// UTF-8 (8.1)
		{"utf8", "invalid UTF-8 in a text frame", w(true, 0, wsclient.OpText, []byte{'a', 0xff}), expect{closeCode: 1007}},
		{"utf8", "a character split across fragments is valid", seq(w(false, 0, wsclient.OpText, []byte{0xe2, 0x82}), w(true, 0, wsclient.OpContinuation, []byte{0xac})), expect{echo: []string{"€"}}},
		{"utf8", "invalid UTF-8 across fragments", seq(w(false, 0, wsclient.OpText, []byte{0xe2}), w(true, 0, wsclient.OpContinuation, []byte{'a'})), expect{closeCode: 1007}},
		{"utf8", "overlong encoding", w(true, 0, wsclient.OpText, []byte{0xc0, 0xaf}), expect{closeCode: 1007}},
		{"utf8", "UTF-16 surrogate", w(true, 0, wsclient.OpText, []byte{0xed, 0xa0, 0x80}), expect{closeCode: 1007}},
		{"utf8", "binary frames are not checked", w(true, 0, wsclient.OpBinary, []byte{0xff}), expect{echo: []string{"\xff"}, echoOp: wsclient.OpBinary}},
		// Close (5.5.1, 7.4)
		{"close", "close 1000 is answered", w(true, 0, wsclient.OpClose, closeFrame(1000, "bye")), expect{closeCode: 1000}},
		{"close", "close without a code", w(true, 0, wsclient.OpClose, nil), expect{closeAny: true}},
		{"close", "close with a 1-byte payload", w(true, 0, wsclient.OpClose, []byte{3}), expect{closeCode: 1002}},
		{"close", "close code 999", w(true, 0, wsclient.OpClose, closeFrame(999, "")), expect{closeCode: 1002}},
		{"close", "close code 1004 (reserved)", w(true, 0, wsclient.OpClose, closeFrame(1004, "")), expect{closeCode: 1002}},
		{"close", "close code 1005 may not be sent", w(true, 0, wsclient.OpClose, closeFrame(1005, "")), expect{closeCode: 1002}},
		{"close", "close code 1006 may not be sent", w(true, 0, wsclient.OpClose, closeFrame(1006, "")), expect{closeCode: 1002}},
		{"close", "close code 1015 may not be sent", w(true, 0, wsclient.OpClose, closeFrame(1015, "")), expect{closeCode: 1002}},
		{"close", "close code 2000 (unassigned)", w(true, 0, wsclient.OpClose, closeFrame(2000, "")), expect{closeCode: 1002}},
		{"close", "close code 3000 (registered)", w(true, 0, wsclient.OpClose, closeFrame(3000, "")), expect{closeAny: true}},
		{"close", "close code 4999 (private)", w(true, 0, wsclient.OpClose, closeFrame(4999, "")), expect{closeAny: true}},
		{"close", "close code 5000", w(true, 0, wsclient.OpClose, closeFrame(5000, "")), expect{closeCode: 1002}},
		{"close", "close reason of invalid UTF-8", w(true, 0, wsclient.OpClose, append(closeFrame(1000, ""), 0xff)), expect{closeCode: 1007}},
		{"close", "123-byte close reason", w(true, 0, wsclient.OpClose, closeFrame(1000, strings.Repeat("r", 123))), expect{closeCode: 1000}},
		// Size limits
		{"size", "a message of exactly the limit", text(strings.Repeat("s", confMax)), expect{echo: []string{strings.Repeat("s", confMax)}}},
		{"size", "one byte over the limit", text(strings.Repeat("s", confMax+1)), expect{closeCode: 1009}},
		{"size", "fragments adding up to over the limit", seq(w(false, 0, wsclient.OpText, []byte(strings.Repeat("f", confMax/2+1))), w(true, 0, wsclient.OpContinuation, []byte(strings.Repeat("f", confMax/2+1)))), expect{closeCode: 1009}},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.group+"/"+tc.name, func(t *testing.T) {
			c := e.dial(t, nil)
			tc.send(c)
			if tc.want.pong != nil {
				f, err := c.ReadFrame()
				if err != nil || f.Op != wsclient.OpPong || !bytes.Equal(f.Payload, *tc.want.pong) {
					t.Fatalf("want a pong with %q, got op %d %q (%v)", *tc.want.pong, f.Op, f.Payload, err)
				}
			}
			for _, want := range tc.want.echo {
				f, err := c.ReadFrame()
				op := tc.want.echoOp
				if op == 0 {
					op = wsclient.OpText
				}
				if err != nil || !f.Fin || f.Op != op || string(f.Payload) != want || f.Masked || f.Rsv != 0 {
					t.Fatalf("want echo op %d of %d bytes, got %+v (%d bytes) %v", op, len(want), f.Op, len(f.Payload), err)
				}
			}
			if tc.want.closeCode != 0 || tc.want.closeAny {
				code, _, err := c.ReadClose()
				if err != nil {
					t.Fatalf("no close frame: %v", err)
				}
				if tc.want.closeAny && (code == 1002 || code == 1007 || code == 1009) {
					t.Fatalf("close %d for a valid close", code)
				}
				if tc.want.closeCode != 0 && code != tc.want.closeCode {
					t.Fatalf("close %d, want %d", code, tc.want.closeCode)
				}
			}
		})
	}
}
