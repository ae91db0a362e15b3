package value_test

import (
	"testing"

	"github.com/wsrelay/wsrelay/value"
)

// BenchmarkMapPayload builds the payload the relay sends per frame: four
// fields, in key order.
func BenchmarkMapPayload(b *testing.B) {
	pid, data, typ := value.String("<relay@node:1.42>"), value.String("0123456789"), value.String("text")
	b.ReportAllocs()
	for b.Loop() {
		v := value.Map(
			value.Field{Key: "client_pid", Value: pid},
			value.Field{Key: "data", Value: data},
			value.Field{Key: "metadata", Value: value.Nil()},
			value.Field{Key: "type", Value: typ},
		)
		if v.Len() != 4 {
			b.Fatal(v.Len())
		}
	}
}

// BenchmarkGetPayload reads the three fields an echo target reads.
func BenchmarkGetPayload(b *testing.B) {
	v := value.Map(
		value.Field{Key: "client_pid", Value: value.String("<relay@node:1.42>")},
		value.Field{Key: "data", Value: value.String("0123456789")},
		value.Field{Key: "metadata", Value: value.Nil()},
		value.Field{Key: "type", Value: value.String("text")},
	)
	for b.Loop() {
		_, ok1 := v.Get("client_pid")
		_, ok2 := v.Get("type")
		_, ok3 := v.Get("data")
		if !ok1 || !ok2 || !ok3 {
			b.Fatal("missing field")
		}
	}
}
