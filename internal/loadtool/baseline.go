package loadtool

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/lxzan/gws"

	"github.com/wsrelay/wsrelay/internal/pprofserve"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// Baseline is `wsrelay baseline [flags]`; args are what follows
// "baseline". It serves what `wsrelay bench` compares against, in one
// process: /bare is a WebSocket echo server on the same library (gws) with
// nothing else, /bare-room a broadcast room on gws alone, and /go is the
// relay with a Go process echoing for every connection. /gobwas is the
// same bare echo on github.com/gobwas/ws, for the library comparison in
// docs/decisions/0001-one-frame-codec.md.
func Baseline(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("baseline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8091", "address to listen on")
	pprofAddr := fs.String("pprof", "", "also serve Go's profiler at this loopback address (e.g. 127.0.0.1:6061)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *pprofAddr != "" {
		bound, stopPprof, err := pprofserve.Start(*pprofAddr)
		if err != nil {
			fmt.Fprintln(stderr, "wsrelay baseline:", err)
			return 2
		}
		defer stopPprof()
		fmt.Fprintf(stdout, "profiler at http://%s/debug/pprof/\n", bound)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "wsrelay baseline:", err)
		return 1
	}
	srv, stop, err := baselineServer()
	if err != nil {
		fmt.Fprintln(stderr, "wsrelay baseline:", err)
		return 1
	}
	fmt.Fprintf(stdout, "baseline listening on %s: ws://%[1]s/bare (gws echo), ws://%[1]s/bare-room (gws broadcast), ws://%[1]s/go (relay, Go target), ws://%[1]s/gobwas (gobwas/ws echo)\n", ln.Addr())
	ctx, cancel := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer cancel()
	go func() {
		<-ctx.Done()
		sctx, c := context.WithTimeout(context.Background(), 5*time.Second)
		defer c()
		srv.Shutdown(sctx)
		stop(sctx)
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		fmt.Fprintln(stderr, "wsrelay baseline:", err)
		return 1
	}
	return 0
}

// baselineServer returns the baseline's HTTP server and a function that
// stops its relay and node.
func baselineServer() (*http.Server, func(context.Context), error) {
	node, err := process.NewNode(&process.Options{Name: "baseline"})
	if err != nil {
		return nil, nil, err
	}
	if _, err := node.AddHost("bench", &process.HostOptions{MailboxSize: 1 << 20}); err != nil {
		return nil, nil, err
	}
	echo, err := node.Spawn("bench", goEcho, process.SpawnOptions{})
	if err != nil {
		return nil, nil, err
	}
	relay, err := wsrelay.New(wsrelay.Options{Node: node, AllowedOrigins: "*", OutboundQueue: 4096, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, nil, err
	}
	header := wsrelay.Header{Target: echo}.String()
	bare := gws.NewUpgrader(bareEcho{}, &gws.ServerOption{CheckUtf8Enabled: true, ReadMaxPayloadSize: wsrelay.DefaultMaxMessageSize})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /bare", func(w http.ResponseWriter, r *http.Request) {
		socket, err := bare.Upgrade(w, r)
		if err != nil {
			return
		}
		go socket.ReadLoop()
	})
	room := &bareRoom{members: map[*gws.Conn]struct{}{}}
	roomUp := gws.NewUpgrader(room, &gws.ServerOption{CheckUtf8Enabled: true, ReadMaxPayloadSize: wsrelay.DefaultMaxMessageSize})
	mux.HandleFunc("GET /bare-room", func(w http.ResponseWriter, r *http.Request) {
		socket, err := roomUp.Upgrade(w, r)
		if err != nil {
			return
		}
		room.join(socket)
		go socket.ReadLoop()
	})
	mux.HandleFunc("GET /gobwas", func(w http.ResponseWriter, r *http.Request) {
		conn, rw, _, err := ws.UpgradeHTTP(r, w)
		if err != nil {
			return
		}
		go gobwasEcho(conn, rw.Reader)
	})
	mux.Handle("GET /go", relay.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(wsrelay.HeaderName, header)
	})))
	stop := func(ctx context.Context) {
		relay.Shutdown(ctx)
		node.Shutdown(ctx)
	}
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, stop, nil
}

// goEcho answers every client frame through the client PID.
func goEcho(p *process.Process) (value.Value, error) {
	for {
		m, ok := p.Receive(p.Context())
		if !ok {
			return value.Nil(), nil
		}
		if m.Topic != "ws.message" {
			continue
		}
		client, _ := m.Payload.Get("client_pid")
		typ, _ := m.Payload.Get("type")
		data, _ := m.Payload.Get("data")
		c, _ := client.Text()
		_ = p.SendDest(c, "ws.send", value.Map(value.Field{Key: "data", Value: data}, value.Field{Key: "type", Value: typ}))
	}
}

// bareRoom is the plain gws broadcast room that `bench fanout` compares
// against: a frame "fanout:<text>" is written to every member, one after
// another, from the sender's read loop; any other frame is echoed.
type bareRoom struct {
	gws.BuiltinEventHandler
	mu      sync.Mutex
	members map[*gws.Conn]struct{}
}

func (r *bareRoom) join(c *gws.Conn) {
	r.mu.Lock()
	r.members[c] = struct{}{}
	r.mu.Unlock()
}

func (r *bareRoom) OnClose(c *gws.Conn, _ error) {
	r.mu.Lock()
	delete(r.members, c)
	r.mu.Unlock()
}

func (*bareRoom) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }

func (r *bareRoom) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	if !bytes.HasPrefix(m.Bytes(), []byte("fanout:")) {
		_ = c.WriteMessage(m.Opcode, m.Bytes())
		return
	}
	r.mu.Lock()
	members := make([]*gws.Conn, 0, len(r.members))
	for member := range r.members {
		members = append(members, member)
	}
	r.mu.Unlock()
	for _, member := range members {
		_ = member.WriteMessage(m.Opcode, m.Bytes())
	}
}

// bareEcho is the plain gws echo: each message written straight back.
type bareEcho struct{ gws.BuiltinEventHandler }

func (bareEcho) OnPing(c *gws.Conn, p []byte) { _ = c.WritePong(p) }

func (bareEcho) OnMessage(c *gws.Conn, m *gws.Message) {
	defer m.Close()
	_ = c.WriteMessage(m.Opcode, m.Bytes())
}

// gobwasEcho is the minimal echo on gobwas/ws that the library decision
// measures: like the gws echo, a reader goroutine and a 4 KiB read buffer
// (the HTTP server's, taken over) per connection, each message written
// back in one write. Pings are answered; any error ends the connection.
func gobwasEcho(conn net.Conn, br *bufio.Reader) {
	defer conn.Close()
	hb := make([]byte, ws.MaxHeaderSize)
	var payload, out []byte
	for {
		h, err := ws.ReadHeaderBuffer(br, hb)
		if err != nil || h.Length < 0 || h.Length > wsrelay.DefaultMaxMessageSize || !h.Masked {
			return
		}
		if int64(cap(payload)) < h.Length {
			payload = make([]byte, h.Length)
		}
		p := payload[:h.Length]
		if _, err := io.ReadFull(br, p); err != nil {
			return
		}
		ws.Cipher(p, h.Mask, 0)
		switch h.OpCode {
		case ws.OpClose:
			_ = ws.WriteFrame(conn, ws.NewCloseFrame(ws.NewCloseFrameBody(ws.StatusNormalClosure, "")))
			return
		case ws.OpPing:
			h.OpCode = ws.OpPong
		case ws.OpPong:
			continue
		}
		reply := ws.Header{Fin: h.Fin, OpCode: h.OpCode, Length: h.Length}
		w := bytes.NewBuffer(out[:0])
		_ = ws.WriteHeader(w, reply)
		w.Write(p)
		out = w.Bytes()
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}
