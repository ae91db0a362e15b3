package luart_test

import (
	"context"
	"flag"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

// echoLua answers every message with "pong" and its payload.
const echoLua = `return { main = function()
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then return end
        process.send(msg:from(), "pong", msg:payload():data())
    end
end }`

// BenchmarkLuaRoundTrip: a Lua process sends "ping" to a Lua echo process
// and waits for the "pong"; an op is one round trip.
func BenchmarkLuaRoundTrip(b *testing.B) {
	e := newEnv(b, nil)
	echo := e.process("bench:echo", echoLua)
	pinger := e.process("bench:ping", `return { main = function(echo, n)
    local inbox = process.inbox()
    for i = 1, n do
        process.send(echo, "ping", i)
        inbox:receive()
    end
    return n
end }`)
	echoPID := e.spawn(echo)
	pr := e.probe()
	b.ReportAllocs()
	b.ResetTimer()
	id := e.spawnWatched(pr, pinger, value.String(echoPID.String()), value.Int(int64(b.N)))
	if r := pr.Await(id); r.Err != nil {
		b.Fatal(r.Err)
	}
}

// BenchmarkHandler: requests through a pooled function.lua handler that
// reads a query parameter and writes JSON.
func BenchmarkHandler(b *testing.B) {
	e := newEnv(b, nil)
	h := e.function("bench:handler", `local http = require("http")
return { handler = function()
    local req = http.request()
    http.response():write_json({hello = req:query("name")})
end }`, "http")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if w := serve(h, "GET", "/?name=x", ""); w.Code != 200 {
				b.Fatal(w.Code)
			}
		}
	})
}

// BenchmarkIdleLuaProcess: memory of Lua processes blocked in
// inbox:receive(), including their goroutines' stacks. Each process tells
// a counter it is ready just before it blocks.
func BenchmarkIdleLuaProcess(b *testing.B) {
	const count = 10000
	for range b.N {
		b.StopTimer()
		node, err := process.NewNode(nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := node.AddHost(host, nil); err != nil {
			b.Fatal(err)
		}
		rt, _ := luart.New(luart.Options{Node: node})
		prog, err := luart.Compile(luart.Source{ID: "bench:idle", File: "idle.lua", Method: "main", Kind: luart.KindProcess,
			Code: []byte(`return { main = function(counter)
    local inbox = process.inbox()
    process.send(counter, "ready", true)
    local msg, ok = inbox:receive()
end }`)})
		if err != nil {
			b.Fatal(err)
		}
		h := &readyCounter{left: count, done: make(chan struct{})}
		counter, err := node.SpawnReactive(host, h, process.SpawnOptions{})
		if err != nil {
			b.Fatal(err)
		}
		args := []value.Value{value.String(counter.String())}
		runtime.GC()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for range count {
			if _, err := rt.Spawn(host, prog, args, process.SpawnOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		<-h.done
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		writeIdleHeapProfile(b)
		heap := float64(after.HeapAlloc-before.HeapAlloc) / count
		stack := float64(after.StackInuse-before.StackInuse) / count
		b.ReportMetric(heap, "heap-B/proc")
		b.ReportMetric(stack, "stack-B/proc")
		b.ReportMetric(heap+stack, "B/proc")
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		if err := node.Shutdown(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		b.StartTimer()
	}
}

// idleHeapProfile, if set, is where BenchmarkIdleLuaProcess writes a
// heap profile while its 10,000 processes wait (go tool pprof
// -sample_index=inuse_space): what an idle process's memory is made of.
var idleHeapProfile = flag.String("idle-heap-profile", "", "write a heap profile of the idle Lua processes of BenchmarkIdleLuaProcess to this file")

func writeIdleHeapProfile(b *testing.B) {
	if *idleHeapProfile == "" {
		return
	}
	f, err := os.Create(*idleHeapProfile)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		b.Fatal(err)
	}
}

// readyCounter is a reactive process that closes done after left messages.
type readyCounter struct {
	left int
	done chan struct{}
}

func (c *readyCounter) HandleMessage(*process.Process, process.Message) error {
	if c.left--; c.left == 0 {
		close(c.done)
	}
	return nil
}

func (c *readyCounter) HandleEvent(_ *process.Process, e process.Event) error {
	if e.Kind == process.EventCancel {
		return process.ErrStop
	}
	return nil
}

func (c *readyCounter) Terminate(*process.Process, process.Result) {}

// BenchmarkLoopWithContext and BenchmarkLoopWithoutContext measure what
// stoppable code costs: with a context, gopher-lua checks it before every
// instruction (that is how cancel, terminate and handler timeouts stop a
// busy loop).
func BenchmarkLoopWithContext(b *testing.B)    { benchLoop(b, true) }
func BenchmarkLoopWithoutContext(b *testing.B) { benchLoop(b, false) }

func benchLoop(b *testing.B, withCtx bool) {
	L := lua.NewState()
	defer L.Close()
	if withCtx {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		L.SetContext(ctx)
	}
	if err := L.DoString(`function loop(n) local s = 0; for i = 1, n do s = s + i end; return s end`); err != nil {
		b.Fatal(err)
	}
	fn := L.GetGlobal("loop")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := L.CallByParam(lua.P{Fn: fn, NRet: 1, Protect: true}, lua.LNumber(1000)); err != nil {
			b.Fatal(err)
		}
		L.Pop(1)
	}
}
