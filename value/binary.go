package value

import (
	"encoding/binary"
	"strconv"
)

// The binary encoding of a Value, used between the nodes of a cluster. It
// keeps every value exactly: integers stay integers of 64 bits, floats keep
// their bits (NaN and infinities too), byte strings stay bytes, strings stay
// strings (UTF-8 or not).
//
// One value is a tag byte and what the tag says follows:
//
//	0x00 nil
//	0x01 false          0x02 true
//	0x03 integer        zigzag uvarint
//	0x04 float          8 bytes, IEEE 754 bits, little endian
//	0x05 string         uvarint length, bytes
//	0x06 byte string    uvarint length, bytes
//	0x07 list           uvarint count, count values
//	0x08 map            uvarint count, count × (uvarint key length, key, value)
//
// The encoding is canonical: varints are minimal and map keys strictly
// increase, so decoding and encoding again gives the same bytes. A decoder
// rejects anything else.
const (
	binNil byte = iota
	binFalse
	binTrue
	binInt
	binFloat
	binString
	binBytes
	binList
	binMap
)

// AppendBinary appends the binary encoding of v to b. Every value can be
// encoded.
func AppendBinary(b []byte, v Value) []byte {
	switch v.kind {
	case KindNil:
		return append(b, binNil)
	case KindBool:
		if v.num == 1 {
			return append(b, binTrue)
		}
		return append(b, binFalse)
	case KindInt:
		i := int64(v.num)
		return binary.AppendUvarint(append(b, binInt), uint64(i<<1)^uint64(i>>63))
	case KindFloat:
		return binary.LittleEndian.AppendUint64(append(b, binFloat), v.num)
	case KindString, KindBytes:
		tag := binString
		if v.kind == KindBytes {
			tag = binBytes
		}
		b = binary.AppendUvarint(append(b, tag), uint64(len(v.str)))
		return append(b, v.str...)
	case KindList:
		b = binary.AppendUvarint(append(b, binList), uint64(len(v.c.items)))
		for _, it := range v.c.items {
			b = AppendBinary(b, it)
		}
		return b
	case KindMap:
		b = binary.AppendUvarint(append(b, binMap), uint64(len(v.c.fields)))
		for _, f := range v.c.fields {
			b = binary.AppendUvarint(b, uint64(len(f.Key)))
			b = append(b, f.Key...)
			b = AppendBinary(b, f.Value)
		}
		return b
	}
	panic("value: AppendBinary of an invalid value")
}

// BinarySize returns the length of the binary encoding of v.
func BinarySize(v Value) int {
	switch v.kind {
	case KindInt:
		i := int64(v.num)
		return 1 + uvarintLen(uint64(i<<1)^uint64(i>>63))
	case KindFloat:
		return 9
	case KindString, KindBytes:
		return 1 + uvarintLen(uint64(len(v.str))) + len(v.str)
	case KindList:
		n := 1 + uvarintLen(uint64(len(v.c.items)))
		for _, it := range v.c.items {
			n += BinarySize(it)
		}
		return n
	case KindMap:
		n := 1 + uvarintLen(uint64(len(v.c.fields)))
		for _, f := range v.c.fields {
			n += uvarintLen(uint64(len(f.Key))) + len(f.Key) + BinarySize(f.Value)
		}
		return n
	}
	return 1
}

// DecodeBinary decodes one binary-encoded value that fills data.
//
// It never panics, whatever data holds, and allocates in proportion to
// len(data): a length or count larger than what is left of the input is an
// error before anything is allocated for it. Nesting deeper than MaxDepth
// is an error. Errors are of type *BinaryError.
func DecodeBinary(data []byte) (Value, error) {
	v, n, err := ReadBinary(data)
	if err != nil {
		return Value{}, err
	}
	if n != len(data) {
		return Value{}, &BinaryError{Offset: n, Msg: strconv.Itoa(len(data)-n) + " byte(s) after the value"}
	}
	return v, nil
}

// ReadBinary decodes the binary-encoded value at the start of data and
// returns it with the number of bytes it took, for values embedded in a
// larger message. Its limits are DecodeBinary's.
func ReadBinary(data []byte) (Value, int, error) {
	d := binDecoder{data: data}
	v, err := d.value(0)
	if err != nil {
		return Value{}, 0, err
	}
	return v, d.off, nil
}

// BinaryError reports binary input that is not a valid encoding.
type BinaryError struct {
	Offset int // where in the input
	Msg    string
}

func (e *BinaryError) Error() string {
	return "value: invalid binary encoding at byte " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

type binDecoder struct {
	data []byte
	off  int
	// promised is how many of the bytes left are spoken for by items of
	// lists and maps already allocated but not yet read (one byte per list
	// item, two per map field). A count is checked against the bytes left
	// and not promised, so nested lists cannot all claim the same bytes,
	// and a decode allocates at most one item per byte of input.
	promised int
}

func (d *binDecoder) fail(at int, msg string) error { return &BinaryError{Offset: at, Msg: msg} }

func (d *binDecoder) left() int { return len(d.data) - d.off }

// free is how many bytes left are not promised to items still to be read
// (none when items already read took more than the byte promised each).
func (d *binDecoder) free() int { return max(d.left()-d.promised, 0) }

// uvarint reads a minimal uvarint.
func (d *binDecoder) uvarint(what string) (uint64, error) {
	x, n := binary.Uvarint(d.data[d.off:])
	if n <= 0 {
		if n == 0 {
			return 0, d.fail(d.off, what+": input ends inside a varint")
		}
		return 0, d.fail(d.off, what+": varint overflows 64 bits")
	}
	if n != uvarintLen(x) {
		return 0, d.fail(d.off, what+": varint is not in its shortest form")
	}
	d.off += n
	return x, nil
}

// length reads a length or count of things that take at least min bytes
// each, and refuses one that the rest of the input could not hold.
func (d *binDecoder) length(what string, min int) (int, error) {
	at := d.off
	x, err := d.uvarint(what)
	if err != nil {
		return 0, err
	}
	if x > uint64(d.free()/min) {
		return 0, d.fail(at, what+" "+strconv.FormatUint(x, 10)+" is more than the "+strconv.Itoa(d.free())+" byte(s) left could hold")
	}
	return int(x), nil
}

func (d *binDecoder) str(what string) (string, error) {
	n, err := d.length(what, 1)
	if err != nil {
		return "", err
	}
	s := string(d.data[d.off : d.off+n])
	d.off += n
	return s, nil
}

func (d *binDecoder) value(depth int) (Value, error) {
	if d.left() == 0 {
		return Value{}, d.fail(d.off, "input ends where a value should start")
	}
	at := d.off
	tag := d.data[d.off]
	d.off++
	switch tag {
	case binNil:
		return Value{}, nil
	case binFalse:
		return Bool(false), nil
	case binTrue:
		return Bool(true), nil
	case binInt:
		u, err := d.uvarint("integer")
		if err != nil {
			return Value{}, err
		}
		return Int(int64(u>>1) ^ -int64(u&1)), nil
	case binFloat:
		if d.left() < 8 {
			return Value{}, d.fail(d.off, "input ends inside a float")
		}
		bits := binary.LittleEndian.Uint64(d.data[d.off:])
		d.off += 8
		return Value{kind: KindFloat, num: bits}, nil
	case binString, binBytes:
		s, err := d.str("string length")
		if err != nil {
			return Value{}, err
		}
		if tag == binBytes {
			return BytesString(s), nil
		}
		return String(s), nil
	case binList, binMap:
		if depth >= MaxDepth {
			return Value{}, d.fail(at, "nested deeper than "+strconv.Itoa(MaxDepth)+" levels")
		}
		if tag == binList {
			return d.list(depth)
		}
		return d.fields(depth)
	}
	return Value{}, d.fail(at, "unknown tag 0x"+strconv.FormatUint(uint64(tag), 16))
}

func (d *binDecoder) list(depth int) (Value, error) {
	n, err := d.length("list count", 1) // each item takes a byte at least
	if err != nil {
		return Value{}, err
	}
	d.promised += n
	items := make([]Value, n)
	for i := range items {
		d.promised--
		if items[i], err = d.value(depth + 1); err != nil {
			return Value{}, err
		}
	}
	return Value{kind: KindList, c: (&compound{items: items}).measure()}, nil
}

func (d *binDecoder) fields(depth int) (Value, error) {
	n, err := d.length("map count", 2) // a key length and a value at least
	if err != nil {
		return Value{}, err
	}
	d.promised += 2 * n
	fs := make([]Field, n)
	for i := range fs {
		d.promised -= 2
		at := d.off
		if fs[i].Key, err = d.str("key length"); err != nil {
			return Value{}, err
		}
		if i > 0 && fs[i].Key <= fs[i-1].Key {
			return Value{}, d.fail(at, "map key "+quoteShort(fs[i].Key)+" is not after "+quoteShort(fs[i-1].Key)+" (keys must be unique and sorted)")
		}
		if fs[i].Value, err = d.value(depth + 1); err != nil {
			return Value{}, err
		}
	}
	return Value{kind: KindMap, c: (&compound{fields: fs}).measure()}, nil
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// quoteShort quotes s for an error message, cut to a readable length.
func quoteShort(s string) string {
	const most = 40
	if len(s) > most {
		return strconv.Quote(s[:most]) + "..."
	}
	return strconv.Quote(s)
}
