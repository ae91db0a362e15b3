package wsrelay

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"unicode/utf8"
)

// The relay's frame codec (RFC 6455 section 5): what inbound.go reads
// and outbox.go writes. One parser sees every client byte; nothing else
// parses frames.

// opcode is a frame's opcode.
type opcode byte

const (
	opContinuation opcode = 0x0
	opText         opcode = 0x1
	opBinary       opcode = 0x2
	opClose        opcode = 0x8
	opPing         opcode = 0x9
	opPong         opcode = 0xA
)

// maxHeader is the longest frame header: 2 bytes, an 8-byte length and a
// 4-byte mask key.
const maxHeader = 14

// frameHeader is a parsed client frame header.
type frameHeader struct {
	fin    bool
	rsv    byte // the RSV bits, 0x40 (RSV1), 0x20, 0x10
	op     opcode
	masked bool
	length uint64
	mask   [4]byte
}

// headerLen returns the length of the header at the start of b, or 0 when
// b is too short to tell.
func headerLen(b []byte) int {
	if len(b) < 2 {
		return 0
	}
	n := 2
	switch b[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if b[1]&0x80 != 0 {
		n += 4
	}
	return n
}

// parseHeader reads the header at the start of b, which holds at least
// headerLen(b) bytes.
func parseHeader(b []byte) frameHeader {
	h := frameHeader{fin: b[0]&0x80 != 0, rsv: b[0] & 0x70, op: opcode(b[0] & 0x0f), masked: b[1]&0x80 != 0}
	i := 2
	switch c := b[1] & 0x7f; c {
	case 126:
		h.length = uint64(binary.BigEndian.Uint16(b[2:4]))
		i = 4
	case 127:
		h.length = binary.BigEndian.Uint64(b[2:10])
		i = 10
	default:
		h.length = uint64(c)
	}
	if h.masked {
		copy(h.mask[:], b[i:i+4])
	}
	return h
}

// unmask XORs b with the mask key, as if b began at offset pos of the
// payload; it returns the offset after b.
func unmask(b []byte, key [4]byte, pos int) int {
	k := uint32(key[0]) | uint32(key[1])<<8 | uint32(key[2])<<16 | uint32(key[3])<<24
	if r := pos & 3; r != 0 {
		k = k>>(8*r) | k<<(32-8*r)
	}
	i := 0
	if len(b) >= 8 {
		k8 := uint64(k) | uint64(k)<<32
		for ; i+8 <= len(b); i += 8 {
			binary.LittleEndian.PutUint64(b[i:], binary.LittleEndian.Uint64(b[i:])^k8)
		}
	}
	for ; i < len(b); i++ {
		b[i] ^= byte(k)
		k = k>>8 | k<<24
	}
	return pos + len(b)
}

// appendHeader appends the header of a server frame (never masked).
func appendHeader(dst []byte, fin bool, rsv1 bool, op opcode, n int) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	if rsv1 {
		b0 |= 0x40
	}
	switch {
	case n < 126:
		return append(dst, b0, byte(n))
	case n <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, b0, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, b0, 127), uint64(n))
	}
}

// closePayload is the payload of a close frame with code and reason; code
// 0 makes an empty one. The reason is cut to fit (TruncateReason).
func closePayload(code int, reason string) []byte {
	if code == 0 {
		return nil
	}
	reason = TruncateReason(reason)
	return append(binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(reason)), uint16(code)), reason...)
}

// parseClosePayload checks a client's close frame payload (RFC 6455
// 5.5.1, 7.4): code 0 for none; a *frameError for a payload that may not
// be sent.
func parseClosePayload(p []byte) (code int, reason string, fe *frameError) {
	switch {
	case len(p) == 0:
		return 0, "", nil
	case len(p) == 1:
		return 0, "", bad(1002, "a close frame with a 1-byte payload, too short for its close code (close code %d, cut)", p[0])
	}
	code = int(binary.BigEndian.Uint16(p))
	if !SendableCode(code) {
		return 0, "", bad(1002, "a close frame with close code %d, which may not be sent", code)
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", bad(1007, "a close frame with a close reason that is not UTF-8")
	}
	return code, string(p[2:]), nil
}

// acceptKey is the Sec-WebSocket-Accept answer to a Sec-WebSocket-Key.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}
