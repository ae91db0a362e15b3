package value_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/value"
)

func nested(depth int) value.Value {
	v := value.Int(1)
	for range depth {
		v = value.List(v)
	}
	return v
}

func binaryCases() map[string]value.Value {
	return map[string]value.Value{
		"nil":           value.Nil(),
		"false":         value.Bool(false),
		"true":          value.Bool(true),
		"zero":          value.Int(0),
		"minus one":     value.Int(-1),
		"max int":       value.Int(math.MaxInt64),
		"min int":       value.Int(math.MinInt64),
		"float":         value.Float(2.5),
		"whole float":   value.Float(2),
		"minus zero":    value.Float(math.Copysign(0, -1)),
		"NaN payload":   value.Float(math.Float64frombits(0x7ff8_0000_dead_beef)),
		"infinity":      value.Float(math.Inf(-1)),
		"empty string":  value.String(""),
		"text":          value.String("héllo"),
		"not UTF-8":     value.String("\xff\xfe"),
		"bytes":         value.BytesString("\x00\x01\xff"),
		"UTF-8 bytes":   value.BytesString("text"),
		"empty list":    value.List(),
		"empty map":     value.Map(),
		"long string":   value.String(strings.Repeat("x", 300)),
		"deepest":       nested(value.MaxDepth),
		"mixed":         value.MustOf(map[string]any{"a": []any{1, 2.0, "x", nil, true}, "": map[string]any{"k": []byte{9}}}),
		"list of lists": value.List(value.List(), value.List(value.Int(1)), value.Map(value.Field{Key: "z", Value: value.Nil()})),
	}
}

// TestBinaryRoundTrip: what is encoded decodes to the same kind and
// contents, bit for bit, and encodes again to the same bytes.
func TestBinaryRoundTrip(t *testing.T) {
	t.Parallel()
	for name, v := range binaryCases() {
		enc := value.AppendBinary([]byte("prefix"), v)[len("prefix"):]
		if got := value.BinarySize(v); got != len(enc) {
			t.Errorf("%s: BinarySize %d, encoding is %d bytes", name, got, len(enc))
		}
		back, err := value.DecodeBinary(enc)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if again := value.AppendBinary(nil, back); !bytes.Equal(again, enc) {
			t.Errorf("%s: encoded again as %x, first %x", name, again, enc)
		}
		if f, ok := v.Float(); ok {
			g, _ := back.Float()
			if math.Float64bits(f) != math.Float64bits(g) {
				t.Errorf("%s: float bits %x became %x", name, math.Float64bits(f), math.Float64bits(g))
			}
		} else if !value.Equal(v, back) {
			t.Errorf("%s: %v became %v", name, v, back)
		}
	}
	// A value embedded in a longer message.
	enc := value.AppendBinary(nil, value.String("one"))
	v, n, err := value.ReadBinary(append(enc, 0xee, 0xff))
	if err != nil || n != len(enc) || !value.Equal(v, value.String("one")) {
		t.Fatalf("ReadBinary: %v %d %v", v, n, err)
	}
}

func TestBinaryRejectsBadInput(t *testing.T) {
	t.Parallel()
	huge := binary.AppendUvarint([]byte{0x07}, 1<<40)
	for name, c := range map[string]struct {
		in   []byte
		want string
	}{
		"empty":                 {nil, "input ends where a value should start"},
		"unknown tag":           {[]byte{0x09}, "unknown tag 0x9"},
		"trailing byte":         {[]byte{0x00, 0x00}, "1 byte(s) after the value"},
		"cut float":             {[]byte{0x04, 1, 2, 3}, "input ends inside a float"},
		"cut varint":            {[]byte{0x03, 0x80}, "input ends inside a varint"},
		"long varint":           {[]byte{0x03, 0x80, 0x00}, "not in its shortest form"},
		"overflowing varint":    {append([]byte{0x03}, bytes.Repeat([]byte{0xff}, 11)...), "overflows 64 bits"},
		"string past the end":   {[]byte{0x05, 5, 'a'}, "string length 5 is more than the 1 byte(s) left could hold"},
		"huge list":             {huge, "list count 1099511627776 is more than"},
		"map count past end":    {[]byte{0x08, 2, 0, 0}, "map count 2 is more than the 2 byte(s) left"},
		"keys out of order":     {[]byte{0x08, 2, 1, 'b', 0, 1, 'a', 0}, `map key "a" is not after "b"`},
		"duplicate key":         {[]byte{0x08, 2, 1, 'a', 0, 1, 'a', 0}, `map key "a" is not after "a"`},
		"too deep":              {append(bytes.Repeat([]byte{0x07, 1}, value.MaxDepth+1), 0), "nested deeper than 64 levels"},
		"list missing its item": {[]byte{0x07, 1}, "list count 1 is more than the 0 byte(s) left"},
	} {
		_, err := value.DecodeBinary(c.in)
		var be *value.BinaryError
		if !errors.As(err, &be) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", name, err, c.want)
		}
	}
}

// TestBinaryDecodeAllocationIsBounded: a count or length that claims more
// than the input holds allocates nothing for it.
func TestBinaryDecodeAllocationIsBounded(t *testing.T) {
	in := binary.AppendUvarint([]byte{0x07}, 1<<40)
	in = append(in, bytes.Repeat([]byte{0}, 64)...)
	if got := allocated(func() { _, _ = value.DecodeBinary(in) }); got > 4096 {
		t.Fatalf("decoding %d bytes that claim 2^40 items allocated %d bytes", len(in), got)
	}
	// Nested lists may not all claim the same bytes: five lists of 48
	// items in 65 bytes would be 240 items.
	in = append(bytes.Repeat([]byte{0x07, 48}, 5), bytes.Repeat([]byte{0}, 55)...)
	_, err := value.DecodeBinary(in)
	if err == nil || !strings.Contains(err.Error(), "list count 48 is more than") {
		t.Fatalf("nested counts larger than the input: %v", err)
	}
	if got := allocated(func() { _, _ = value.DecodeBinary(in) }); got > maxAllocPerByte*uint64(len(in)) {
		t.Fatalf("decoding %d bytes of nested counts allocated %d bytes", len(in), got)
	}
}

// allocated returns the bytes fn allocates: the least of three runs, since
// the counter is the whole program's and other goroutines (the fuzzing
// engine's) allocate too.
func allocated(fn func()) uint64 {
	least := uint64(math.MaxUint64)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		fn()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// maxAllocPerByte bounds what decoding may allocate per input byte: a
// one-byte nil in a list costs one Value (40 bytes), an empty list of two
// bytes a Value and its compound.
const maxAllocPerByte = 64

func FuzzDecodeBinary(f *testing.F) {
	for _, v := range binaryCases() {
		f.Add(value.AppendBinary(nil, v))
	}
	f.Add([]byte{0x07, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Add([]byte{0x08, 1, 1, 'a', 0x05, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := value.DecodeBinary(data)
		if got := allocated(func() { _, _ = value.DecodeBinary(data) }); got > uint64(maxAllocPerByte*len(data)+4096) {
			t.Fatalf("decoding %d bytes allocated %d bytes", len(data), got)
		}
		if err != nil {
			var be *value.BinaryError
			if !errors.As(err, &be) || be.Offset < 0 || be.Offset > len(data) {
				t.Fatalf("error %v (%T) does not say where", err, err)
			}
			return
		}
		if enc := value.AppendBinary(nil, v); !bytes.Equal(enc, data) {
			t.Fatalf("accepted %x but encodes it as %x", data, enc)
		}
	})
}

// Payloads for the benchmarks against JSON: a chat message, and a binary
// frame of 1 KiB.
func benchPayloads() map[string]value.Value {
	frame := make([]byte, 1024)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	return map[string]value.Value{
		"chat": value.MustOf(map[string]any{
			"room": "lobby", "user": "alice", "ts": 1732960000123, "seq": 4711,
			"text":     strings.Repeat("hello there, ", 8),
			"mentions": []any{"bob", "carol"},
			"meta":     map[string]any{"edited": false, "score": 0.75},
		}),
		"bytes1k": value.Bytes(frame),
	}
}

func BenchmarkCodec(b *testing.B) {
	for name, v := range benchPayloads() {
		bin := value.AppendBinary(nil, v)
		js, err := value.AppendJSON(nil, v)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name+"/binary/encode", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 2*len(bin))
			for b.Loop() {
				buf = value.AppendBinary(buf[:0], v)
			}
			b.ReportMetric(float64(len(bin)), "bytes")
		})
		b.Run(name+"/json/encode", func(b *testing.B) {
			b.ReportAllocs()
			buf := make([]byte, 0, 2*len(js))
			for b.Loop() {
				buf, _ = value.AppendJSON(buf[:0], v)
			}
			b.ReportMetric(float64(len(js)), "bytes")
		})
		b.Run(name+"/binary/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := value.DecodeBinary(bin); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/json/decode", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := value.ParseJSON(js); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
