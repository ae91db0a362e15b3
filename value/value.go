// Package value defines the payloads that processes exchange: nil, boolean,
// integer, float, string, byte string, list, and map with string keys.
//
// A Value is immutable. Constructors copy what they are given (a []byte, a
// slice of values, a Go map), and no accessor hands out memory the value
// keeps, so a receiver can never observe a later mutation by the sender and
// one value can be sent to any number of processes without copying.
// The zero Value is nil.
package value

import (
	"iter"
	"math"
	"slices"
	"strings"
)

// Kind is the type of a Value.
type Kind uint8

// The kinds of value.
const (
	KindNil Kind = iota
	KindBool
	KindInt
	KindFloat
	KindString
	KindBytes
	KindList
	KindMap
)

var kindNames = [...]string{"nil", "boolean", "integer", "float", "string", "bytes", "list", "map"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// Value is an immutable payload value. Copying a Value is cheap and safe.
type Value struct {
	kind Kind
	num  uint64    // bool (0/1), int64 bits, float64 bits
	str  string    // string and byte string contents
	c    *compound // list items or map fields
}

type compound struct {
	items  []Value // list
	fields []Field // map, sorted by key, keys unique
	size   int     // Size of the list or map, set when it is made (measure)
}

// The sizes Size counts: a Value, a Field beyond its Value, and a list's
// or map's header. They follow the struct sizes on a 64-bit machine.
const (
	valueSize    = 40
	fieldSize    = 16
	compoundSize = 64
)

// SizeValue, SizeField and SizeCompound are the sizes above, for code
// that computes the Size of a value before it makes it: a scalar is
// SizeValue (plus its text), a list or map SizeValue + SizeCompound plus
// its items, and each field of a map SizeField plus its key and value.
const (
	SizeValue    = valueSize
	SizeField    = fieldSize
	SizeCompound = compoundSize
)

// maxSize caps Size: a value that holds one value many times (nested
// lists of one list twice) counts it each time, and its count would
// otherwise overflow. Any two sizes add up without overflow.
const maxSize = math.MaxInt / 4

// measure sets c.size from its items or fields, which are measured
// already, so a value of any depth is measured once, as it is made.
func (c *compound) measure() *compound {
	n := valueSize + compoundSize
	for i := range c.items {
		n = min(n+c.items[i].Size(), maxSize)
	}
	for i := range c.fields {
		f := &c.fields[i] // not a copy of the field
		n = min(n+fieldSize+len(f.Key)+f.Value.Size(), maxSize)
	}
	c.size = n
	return c
}

// Size returns about how many bytes of memory v holds: its text or bytes,
// and for a list or map its items, keys and values, plus a fixed cost per
// value. It is computed when the value is made, so it costs nothing to
// ask; mailboxes bound the bytes they hold with it. A string or value
// that appears twice in v counts twice, though it is held once; the count
// stops at maxSize (a quarter of the largest int) rather than overflow.
func (v Value) Size() int {
	if v.c != nil {
		return v.c.size
	}
	return valueSize + len(v.str)
}

// Field is one key and value of a map.
type Field struct {
	Key   string
	Value Value
}

// Nil returns the nil value (the same as the zero Value).
func Nil() Value { return Value{} }

// Bool returns a boolean value.
func Bool(b bool) Value {
	if b {
		return Value{kind: KindBool, num: 1}
	}
	return Value{kind: KindBool}
}

// Int returns an integer value.
func Int(i int64) Value { return Value{kind: KindInt, num: uint64(i)} }

// Float returns a float value.
func Float(f float64) Value { return Value{kind: KindFloat, num: math.Float64bits(f)} }

// String returns a (text) string value. The text is not checked for UTF-8.
func String(s string) Value { return Value{kind: KindString, str: s} }

// Bytes returns a byte string value holding a copy of b.
func Bytes(b []byte) Value { return Value{kind: KindBytes, str: string(b)} }

// BytesString returns a byte string value with the bytes of s (no copy is
// needed: Go strings are immutable).
func BytesString(s string) Value { return Value{kind: KindBytes, str: s} }

// List returns a list holding a copy of items.
func List(items ...Value) Value {
	c := newCompound(len(items), false)
	copy(c.items, items)
	return Value{kind: KindList, c: c.measure()}
}

// Map returns a map of the given fields. A key given twice keeps its last value.
func Map(fields ...Field) Value {
	c := newCompound(len(fields), true)
	fs := c.fields
	copy(fs, fields)
	if sortedUnique(fs) {
		return Value{kind: KindMap, c: c.measure()}
	}
	slices.SortStableFunc(fs, func(a, b Field) int { return strings.Compare(a.Key, b.Key) })
	// Keep the last of each run of equal keys.
	out := fs[:0]
	for i, f := range fs {
		if i+1 < len(fs) && fs[i+1].Key == f.Key {
			continue
		}
		out = append(out, f)
	}
	clear(fs[len(out):]) // no hidden references to dropped values
	c.fields = out
	return Value{kind: KindMap, c: c.measure()}
}

// newCompound returns a compound with n zero items (or, for a map, n zero
// fields) to fill in. Small ones (a message payload has a handful of
// fields) come in one allocation with their array, instead of two: the
// copy a constructor makes then costs no more than the compound did.
func newCompound(n int, isMap bool) *compound {
	if isMap {
		switch {
		case n <= 2:
			p := new(struct {
				c compound
				a [2]Field
			})
			p.c.fields = p.a[:n:n]
			return &p.c
		case n <= 4:
			p := new(struct {
				c compound
				a [4]Field
			})
			p.c.fields = p.a[:n:n]
			return &p.c
		case n <= 8:
			p := new(struct {
				c compound
				a [8]Field
			})
			p.c.fields = p.a[:n:n]
			return &p.c
		}
		return &compound{fields: make([]Field, n)}
	}
	switch {
	case n <= 2:
		p := new(struct {
			c compound
			a [2]Value
		})
		p.c.items = p.a[:n:n]
		return &p.c
	case n <= 4:
		p := new(struct {
			c compound
			a [4]Value
		})
		p.c.items = p.a[:n:n]
		return &p.c
	}
	return &compound{items: make([]Value, n)}
}

// sortedUnique reports whether fs is sorted by key with no key twice, as
// fields written in key order are: Map then has nothing to sort.
func sortedUnique(fs []Field) bool {
	for i := 1; i < len(fs); i++ {
		if fs[i-1].Key >= fs[i].Key {
			return false
		}
	}
	return true
}

// FromMap returns a map value with the entries of m.
func FromMap(m map[string]Value) Value {
	fs := make([]Field, 0, len(m))
	for k, v := range m {
		fs = append(fs, Field{k, v})
	}
	slices.SortFunc(fs, func(a, b Field) int { return strings.Compare(a.Key, b.Key) })
	return Value{kind: KindMap, c: (&compound{fields: fs}).measure()}
}

// Kind returns the kind of v.
func (v Value) Kind() Kind { return v.kind }

// IsNil reports whether v is nil.
func (v Value) IsNil() bool { return v.kind == KindNil }

// Bool returns the boolean and whether v is a boolean.
func (v Value) Bool() (bool, bool) { return v.num == 1, v.kind == KindBool }

// Int returns the integer and whether v is an integer.
func (v Value) Int() (int64, bool) {
	if v.kind != KindInt {
		return 0, false
	}
	return int64(v.num), true
}

// Float returns the float and whether v is a float.
func (v Value) Float() (float64, bool) {
	if v.kind != KindFloat {
		return 0, false
	}
	return math.Float64frombits(v.num), true
}

// Number returns an integer or float as a float64, and whether v is one.
func (v Value) Number() (float64, bool) {
	switch v.kind {
	case KindInt:
		return float64(int64(v.num)), true
	case KindFloat:
		return math.Float64frombits(v.num), true
	}
	return 0, false
}

// Text returns the string and whether v is a (text) string.
func (v Value) Text() (string, bool) { return v.str, v.kind == KindString }

// Raw returns the contents of a string or byte string, and whether v is one.
func (v Value) Raw() (string, bool) { return v.str, v.kind == KindString || v.kind == KindBytes }

// Bytes returns a copy of the bytes of a byte string, and whether v is one.
func (v Value) Bytes() ([]byte, bool) {
	if v.kind != KindBytes {
		return nil, false
	}
	return []byte(v.str), true
}

// Len returns the number of items of a list or fields of a map, the length of
// a string or byte string, and 0 for other kinds.
func (v Value) Len() int {
	switch v.kind {
	case KindList:
		return len(v.c.items)
	case KindMap:
		return len(v.c.fields)
	case KindString, KindBytes:
		return len(v.str)
	}
	return 0
}

// Index returns item i of a list; nil when v is not a list or i is out of range.
func (v Value) Index(i int) Value {
	if v.kind != KindList || i < 0 || i >= len(v.c.items) {
		return Value{}
	}
	return v.c.items[i]
}

// Get returns the value of key in a map, and whether it is there.
func (v Value) Get(key string) (Value, bool) {
	if v.kind != KindMap {
		return Value{}, false
	}
	fs := v.c.fields
	if len(fs) <= 8 {
		// A payload's handful of fields: a scan beats a binary search.
		for i := range fs {
			if fs[i].Key == key {
				return fs[i].Value, true
			}
		}
		return Value{}, false
	}
	i, ok := slices.BinarySearchFunc(fs, key, func(f Field, k string) int { return strings.Compare(f.Key, k) })
	if !ok {
		return Value{}, false
	}
	return fs[i].Value, true
}

// Items iterates over the items of a list.
func (v Value) Items() iter.Seq2[int, Value] {
	return func(yield func(int, Value) bool) {
		if v.kind != KindList {
			return
		}
		for i, it := range v.c.items {
			if !yield(i, it) {
				return
			}
		}
	}
}

// Fields iterates over the fields of a map in key order.
func (v Value) Fields() iter.Seq2[string, Value] {
	return func(yield func(string, Value) bool) {
		if v.kind != KindMap {
			return
		}
		for _, f := range v.c.fields {
			if !yield(f.Key, f.Value) {
				return
			}
		}
	}
}

// Equal reports whether a and b are the same kind with equal contents.
// Floats compare by value, so NaN is not equal to itself.
func Equal(a, b Value) bool {
	if a.kind != b.kind {
		return false
	}
	switch a.kind {
	case KindNil:
		return true
	case KindBool, KindInt:
		return a.num == b.num
	case KindFloat:
		return math.Float64frombits(a.num) == math.Float64frombits(b.num)
	case KindString, KindBytes:
		return a.str == b.str
	case KindList:
		return slices.EqualFunc(a.c.items, b.c.items, Equal)
	case KindMap:
		return slices.EqualFunc(a.c.fields, b.c.fields, func(x, y Field) bool {
			return x.Key == y.Key && Equal(x.Value, y.Value)
		})
	}
	return false
}
