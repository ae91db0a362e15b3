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
