package luart

import (
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/value"
)

// The relay's per-message conversions: a ws.message payload into Lua
// (msg:payload():data()), and an echo's reply table back into a value
// (process.send(d.client_pid, "ws.send", {type = d.type, data = d.data})).

func BenchmarkPayloadToLua(b *testing.B) {
	L := lua.NewState()
	defer L.Close()
	payload := value.Map(
		value.Field{Key: "client_pid", Value: value.String("<relay@node:1.42>")},
		value.Field{Key: "data", Value: value.String("0123456789012345678901234567890123456789012345678901234567890123")},
		value.Field{Key: "metadata", Value: value.Nil()},
		value.Field{Key: "type", Value: value.String("text")},
	)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := toLua(L, payload).(*lua.LTable); !ok {
			b.Fatal("not a table")
		}
	}
}

func BenchmarkReplyToValue(b *testing.B) {
	L := lua.NewState()
	defer L.Close()
	t := L.CreateTable(0, 2)
	t.RawSetString("type", lua.LString("text"))
	t.RawSetString("data", lua.LString("0123456789012345678901234567890123456789012345678901234567890123"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := toValue(t); err != nil {
			b.Fatal(err)
		}
	}
}
