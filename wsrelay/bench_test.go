package wsrelay_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// The Lua echo target: the seeds' receive loop, answering each frame.
const luaEcho = `return { main = function()
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then return end
        if msg:topic() == "ws.message" then
            local d = msg:payload():data()
            process.send(d.client_pid, "ws.send", {type = d.type, data = d.data})
        end
    end
end }`

// benchEcho pipelines b.N messages of 64 bytes over conns connections
// through the relay; each op is one message out and its echo back.
func benchEcho(b *testing.B, conns int, setup func(e *env) func(*http.Request) string) {
	e := newEnv(b, wsrelay.Options{OutboundQueue: 1 << 16})
	header := setup(e)
	e.srv.Config.Handler = e.rl.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(wsrelay.HeaderName, header(r))
	}))
	clients := make([]*wsclient.Client, conns)
	for i := range clients {
		clients[i] = e.dial(b, nil)
	}
	msg := strings.Repeat("x", 64)
	b.SetBytes(64)
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	for i, c := range clients {
		n := b.N / conns
		if i < b.N%conns {
			n++
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range n {
				if err := c.WriteText(msg); err != nil {
					b.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range n {
				if _, _, err := c.ReadMessage(); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func goEchoHeader(e *env) func(*http.Request) string {
	tg := e.target(true)
	h := wsrelay.Header{Target: tg.PID}.String()
	return func(*http.Request) string { return h }
}

func luaRuntime(e *env) (*luart.Runtime, *luart.Program) {
	rt, err := luart.New(luart.Options{Node: e.node})
	if err != nil {
		e.t.Fatal(err)
	}
	prog, err := luart.Compile(luart.Source{ID: "bench:echo", File: "echo.lua", Code: []byte(luaEcho), Method: "main", Kind: luart.KindProcess})
	if err != nil {
		e.t.Fatal(err)
	}
	return rt, prog
}

func BenchmarkEchoGoTarget(b *testing.B) { benchEcho(b, 50, goEchoHeader) }

func BenchmarkEchoSharedLuaTarget(b *testing.B) {
	benchEcho(b, 50, func(e *env) func(*http.Request) string {
		rt, prog := luaRuntime(e)
		p, err := rt.Spawn(host, prog, nil, process.SpawnOptions{})
		if err != nil {
			b.Fatal(err)
		}
		h := wsrelay.Header{Target: p}.String()
		return func(*http.Request) string { return h }
	})
}

func BenchmarkEchoLuaPerConnection(b *testing.B) {
	benchEcho(b, 50, func(e *env) func(*http.Request) string {
		rt, prog := luaRuntime(e)
		return func(*http.Request) string {
			p, err := rt.Spawn(host, prog, nil, process.SpawnOptions{})
			if err != nil {
				return ""
			}
			return wsrelay.Header{Target: p}.String()
		}
	})
}

// BenchmarkIdleConnection reports the server's memory per idle connection
// with a shared Go target. The clients are bare sockets that completed the
// handshake, so they add little to what is measured.
func BenchmarkIdleConnection(b *testing.B) {
	const n = 2000
	for range b.N {
		b.StopTimer()
		e := newEnv(b, wsrelay.Options{})
		tg := e.target(false)
		e.relayTo(tg.PID, "")
		addr := strings.TrimPrefix(e.srv.URL, "http://")
		socks := make([]net.Conn, 0, n)
		runtime.GC()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for range n {
			socks = append(socks, bareDial(b, addr))
		}
		for range n {
			tg.Next("ws.join")
		}
		b.StopTimer()
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		heap := float64(after.HeapAlloc-before.HeapAlloc) / n
		stack := float64(after.StackInuse-before.StackInuse) / n
		b.ReportMetric(heap, "heap-B/conn")
		b.ReportMetric(stack, "stack-B/conn")
		b.ReportMetric(heap+stack, "B/conn")
		for _, s := range socks {
			s.Close()
		}
		ctx, cancel := context.WithCancel(context.Background())
		e.rl.Shutdown(ctx)
		cancel()
	}
}

// bareDial completes a WebSocket handshake and keeps only the socket.
func bareDial(b *testing.B, addr string) net.Conn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	r := bufio.NewReaderSize(c, 512)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != 101 {
		b.Fatalf("handshake: %v %v", err, resp)
	}
	return c
}
