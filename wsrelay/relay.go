package wsrelay

import (
	"bytes"
	"context"
	"errors"
	"github.com/wsrelay/wsrelay/internal/logtext"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsrelay/wsrelay/internal/origin"
	"github.com/wsrelay/wsrelay/internal/ratelog"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
)

// Relay is the relay middleware for one route. Make it with New, wrap
// handlers with Middleware, and call Shutdown when the server stops.
type Relay struct {
	opts    Options
	node    *process.Node
	log     *slog.Logger
	origins origin.List
	budget  *Budget // inbound bytes held back, shared with the node's other relays

	// Lines clients and the app can cause at will, each kind with its
	// own limit (docs/relay.md, "Log lines"): a client flood does not
	// silence the app's errors.
	clientLog *ratelog.Logger
	appLog    *ratelog.Logger

	mu      sync.Mutex
	closing bool
	conns   map[*conn]struct{}
	byPIDs  map[pid.PID]*conn  // the same connections by client PID (Trace)
	traced  map[*conn]struct{} // those traced now, at most MaxTraces (inspect.go)
	endedMu sync.Mutex
	ended   []endedTrace   // traces of connections that ended, oldest first (inspect.go)
	readers sync.WaitGroup // readers of open sockets (a goroutine each, or a watch: poll_linux.go)
	poll    poller         // watches idle sockets for bytes
	writers running        // writer goroutines (a writer runs while its connection has frames to write)
	waiters running        // goroutines waiting for room to send what a connection owes its target (owed.go)

	outBytes atomic.Int64 // payload bytes waiting to be written, over every connection

	// hurry is closed when a Shutdown runs out of time: a connection
	// waiting for room to send its ws.join or ws.leave gives up.
	hurry     chan struct{}
	hurryOnce sync.Once
}

// The kinds of log lines a relay limits, as its "suppressed" lines name
// them: lines clients cause (refusals, hostile closes, failed upgrades,
// connections ended), and lines the app's code causes (an invalid relay
// header, a dead target, a bad message to a client).
const (
	clientLines = "lines about websocket clients"
	appLines    = "lines about the app's relay errors"
)

// New returns a relay. It adds the connection host to the node if it is
// not there yet.
func New(opts Options) (*Relay, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	origins, _ := origin.Parse(opts.AllowedOrigins)
	if _, ok := opts.Node.Host(opts.Host); !ok {
		// No bound of processes: a connection is a process, and
		// connections are bounded where they are accepted, not here.
		if _, err := opts.Node.AddHost(opts.Host, &process.HostOptions{CancelGrace: time.Second, MaxProcesses: -1}); err != nil && !errors.Is(err, process.ErrHostExists) {
			return nil, err
		}
	}
	rl := &Relay{opts: opts, node: opts.Node, log: opts.Logger.With("route", opts.Route), origins: origins, conns: map[*conn]struct{}{}, byPIDs: map[pid.PID]*conn{}, traced: map[*conn]struct{}{}, hurry: make(chan struct{})}
	rl.clientLog = ratelog.New(ratelog.PerSecond).Logger(rl.log, clientLines)
	rl.appLog = ratelog.New(ratelog.PerSecond).Logger(rl.log, appLines)
	rl.budget = opts.InboundBudget
	if rl.budget == nil {
		rl.budget = NewBudget(0)
	}
	rl.budget.raise(opts.InboundBudgetSize)
	return rl, nil
}

// Middleware wraps next: see the package documentation for the flow.
func (rl *Relay) Middleware(next http.Handler) http.Handler {
	hosts, _ := origin.ParseHosts(rl.opts.AllowedHosts) // checked by New
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if claimsUpgrade(r) {
			if herr := checkHandshake(r); herr != nil {
				rl.clientLog.Debug("websocket handshake refused", "path", logClip(r.URL.Path), "status", herr.status, "error", logClip(herr.msg), "remote", r.RemoteAddr)
				rl.refused(herr.reason)
				herr.write(w)
				return
			}
			joinConnection(r)
		}
		if !hosts.AllowsRequest(r) {
			rl.clientLog.Debug("request refused: a loopback connection named a host that is neither loopback nor allowed (DNS rebinding?)", "host", logClip(r.Host), "path", logClip(r.URL.Path), "remote", r.RemoteAddr)
			rl.refused(RefusedHost)
			w.Header().Set("Connection", "close")
			http.Error(w, origin.HostRefusal(r.Host), http.StatusMisdirectedRequest)
			return
		}
		if o := r.Header.Get("Origin"); o != "" && !rl.originAllowed(o, r.Host) {
			rl.clientLog.Info("websocket origin refused", "origin", logClip(o), "host", logClip(r.Host), "path", logClip(r.URL.Path), "remote", r.RemoteAddr)
			rl.refused(RefusedOrigin)
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		cw := &captureWriter{ResponseWriter: w}
		spawns := &spawnLog{} // what the handler spawns: see owned
		next.ServeHTTP(cw, r.WithContext(withSpawnLog(r.Context(), spawns)))
		if !cw.decide() {
			rl.dropOwned(cw.refused, spawns, "handler refused the upgrade")
			return
		}
		raw := w.Header().Get(HeaderName)
		w.Header().Del(HeaderName)
		rl.relay(w, r, raw, spawns)
	})
}

// refused counts a request refused before its handler ran, when the
// metrics take it.
func (rl *Relay) refused(reason string) {
	if m, ok := rl.opts.Metrics.(RefusalMetrics); ok {
		m.Refused(reason)
	}
}

func (rl *Relay) originAllowed(o, host string) bool {
	if rl.origins.Empty() {
		return origin.SameOrigin(o, host)
	}
	return rl.origins.Allows(o)
}

func (rl *Relay) relay(w http.ResponseWriter, r *http.Request, raw string, spawns *spawnLog) {
	h, err := ParseHeader(raw)
	if err != nil {
		rl.appLog.Error("the handler set an invalid X-WS-Relay header", "path", logClip(r.URL.Path), "error", logClip(err.Error()), "header", logClip(raw))
		http.Error(w, "internal server error: invalid relay configuration", http.StatusInternalServerError)
		rl.dropInvalid(raw, spawns)
		return
	}
	owned := spawns.Spawned(h.Target)
	opened := false
	defer func() {
		if owned && !opened { // the upgrade never happened
			rl.cancelOwned(h.Target)
		}
	}()
	if !isUpgrade(r) {
		rl.clientLog.Debug("relay asked for a request that is not a WebSocket upgrade", "path", logClip(r.URL.Path), "method", logClip(r.Method), "target", h.Target.String())
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		http.Error(w, "this endpoint speaks WebSocket: send an upgrade request", http.StatusUpgradeRequired)
		return
	}
	if rl.node.IsLocal(h.Target) && !rl.node.Alive(h.Target) {
		rl.appLog.Warn("relay target is not alive", "path", logClip(r.URL.Path), "target", h.Target.String())
		http.Error(w, "bad gateway: the target process is not alive", http.StatusBadGateway)
		return
	}
	rl.mu.Lock()
	closing := rl.closing
	if !closing {
		rl.readers.Add(1) // before the upgrade, so Shutdown waits for this one
	}
	rl.mu.Unlock()
	if closing {
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	}
	sock, in, watch, err := rl.upgrade(w, r)
	if err != nil {
		rl.readers.Done()
		rl.clientLog.Debug("websocket upgrade failed", "path", logClip(r.URL.Path), "error", logClip(err.Error()))
		return
	}
	c := newConn(rl, sock, in, h, r.RemoteAddr)
	c.owned = owned
	c.origin, c.path = logtext.Cut(r.Header.Get("Origin"), 256), logtext.Cut(r.URL.RequestURI(), 512)
	if err := c.open(); err != nil {
		rl.clientLog.Warn("cannot open websocket connection process", "error", err.Error())
		var hdr [maxHeader]byte
		p := closePayload(1001, "server shutting down")
		_ = sock.writeFrame(appendHeader(hdr[:0], true, false, opClose, len(p)), p)
		_ = sock.Close()
		rl.readers.Done()
		return
	}
	opened = true // from now on the connection cancels what it owns
	rl.startReader(c, in, watch)
}

// startReader starts reading the client's frames. A watched socket's
// reader runs on a goroutine only while bytes arrive, and stops between
// messages (watch.serve); any other reads on a goroutine of its own until
// the connection ends.
func (rl *Relay) startReader(c *conn, in *inbound, w *watch) {
	if w != nil {
		w.start(rl, c, in)
		return
	}
	go func() {
		var err error // why the reading ended (nil: a panic)
		defer rl.readers.Done()
		defer func() { c.readerDone(err) }()
		defer in.releaseAll()
		defer c.recoverPanic("reading frames")
		err = in.run()
	}()
}

// upgrade takes the connection over from the HTTP server and answers the
// handshake (checked already: checkHandshake). The HTTP server's buffers
// (4 KiB each way) are let go; bytes the client sent right after its
// request are read first.
func (rl *Relay) upgrade(w http.ResponseWriter, r *http.Request) (*socket, *inbound, *watch, error) {
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "cannot take over the connection for a WebSocket", http.StatusInternalServerError)
		return nil, nil, nil, err
	}
	// The HTTP server's read and write deadlines do not apply to a
	// WebSocket: dead peers are found by pings, slow ones by WriteTimeout.
	_ = nc.SetDeadline(time.Time{})
	wc, watch := rl.watchConn(nc)
	sock := &socket{Conn: wc, timeout: rl.opts.WriteTimeout}
	deflate := rl.opts.Compression && deflateOffer(r)
	in := newInbound(nc, &rl.opts, rl.budget, deflate)
	in.watched = watch != nil
	if n := brw.Reader.Buffered(); n > 0 {
		b, _ := brw.Reader.Peek(n) // frames the client sent right after the handshake
		in.pre = bytes.Clone(b)
	}
	if _, err := sock.Write(switchingProtocols(r.Header.Get("Sec-WebSocket-Key"), deflate)); err != nil {
		_ = nc.Close()
		return nil, nil, nil, err
	}
	return sock, in, watch, nil
}

// switchingProtocols is the 101 answer to a handshake. With
// permessage-deflate it names the one set of parameters the relay
// keeps to: no context taken over either way (RFC 7692 7.1).
func switchingProtocols(key string, deflate bool) []byte {
	b := make([]byte, 0, 256)
	b = append(b, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	b = append(b, acceptKey(key)...)
	if deflate {
		b = append(b, "\r\nSec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover"...)
	}
	return append(b, "\r\n\r\n"...)
}

// isUpgrade reports whether r asks for a WebSocket.
func isUpgrade(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		headerHasToken(r.Header.Get("Connection"), "upgrade")
}

func headerHasToken(h, token string) bool {
	for _, t := range strings.Split(h, ",") {
		if strings.EqualFold(strings.TrimSpace(t), token) {
			return true
		}
	}
	return false
}

func (rl *Relay) add(c *conn) bool {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.closing {
		return false
	}
	rl.conns[c] = struct{}{}
	rl.byPIDs[c.pid] = c
	return true
}

func (rl *Relay) remove(c *conn) {
	rl.mu.Lock()
	delete(rl.conns, c)
	if rl.byPIDs[c.pid] == c {
		delete(rl.byPIDs, c.pid)
	}
	delete(rl.traced, c) // its place goes to the next trace
	rl.mu.Unlock()
	if t := c.trace.Swap(nil); t != nil {
		rl.keepEnded(c.pid, t)
	}
}

// Connections returns how many sockets are open.
func (rl *Relay) Connections() int {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return len(rl.conns)
}

// OutboundBytes returns the payload bytes waiting to be written to the
// relay's clients now, over every connection (a payload shared by several
// counts once for each).
func (rl *Relay) OutboundBytes() int64 { return rl.outBytes.Load() }

// Shutdown closes every connection with 1001 (targets get ws.leave with
// reason shutdown), refuses new ones, and waits until the sockets are
// closed or ctx is done; then it cuts what is left. It returns once every
// reader and writer goroutine the relay started has ended, and every
// connection it ended has sent its ws.leave. A ws.leave waiting for room
// in its target's mailbox or toward its target's node waits until ctx is
// done, then is given up (and logged).
func (rl *Relay) Shutdown(ctx context.Context) {
	stop := context.AfterFunc(ctx, func() { rl.hurryOnce.Do(func() { close(rl.hurry) }) })
	defer stop()
	rl.mu.Lock()
	rl.closing = true
	conns := make([]*conn, 0, len(rl.conns))
	for c := range rl.conns {
		conns = append(conns, c)
	}
	rl.mu.Unlock()
	// The connections end side by side: one whose ws.leave waits for room
	// toward its target's node (until ctx is done) does not hold back the
	// 1001 of the others.
	ended := endAll(conns, ending{reason: ReasonShutdown, code: 1001, leave: true, closeCode: 1001, closeText: "server shutting down"})
	done := make(chan struct{})
	go func() {
		rl.readers.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		for _, c := range conns {
			_ = c.sock.Conn.Close()
		}
		<-done
	}
	<-ended
	// Every connection's leave has gone, or is given up once ctx is done.
	for _, c := range conns {
		<-c.closedWait()
	}
	<-rl.waiters.idle()
	// Every socket is closed now (by its writer after the close frame,
	// or above): a writer still running fails its next write at once.
	<-rl.writers.idle()
	// Every watch has left the poller (before its reader was done): its
	// loop ends.
	<-rl.poll.loops.idle()
}

// endWorkers bounds the goroutines that end connections at a shutdown.
const endWorkers = 64

// endAll ends every connection with e, endWorkers at a time, and returns
// a channel closed once all are ended.
func endAll(conns []*conn, e ending) <-chan struct{} {
	work := make(chan *conn)
	var wg sync.WaitGroup
	for range min(endWorkers, len(conns)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				c.endFromOutside(e)
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		for _, c := range conns {
			work <- c
		}
		close(work)
		wg.Wait()
		close(done)
	}()
	return done
}

// running counts goroutines the relay started and is to wait for.
type running struct {
	mu   sync.Mutex
	n    int
	zero chan struct{} // closed once n is 0, for whoever waits
}

func (r *running) add() {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
}

func (r *running) done() {
	r.mu.Lock()
	if r.n--; r.n == 0 && r.zero != nil {
		close(r.zero)
		r.zero = nil
	}
	r.mu.Unlock()
}

// idle returns a channel closed once none runs.
func (r *running) idle() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := make(chan struct{})
	if r.n == 0 {
		close(ch)
		return ch
	}
	if r.zero == nil {
		r.zero = ch
	}
	return r.zero
}

// captureWriter holds back the response of a handler that sets the relay
// header; any other response passes through as it is written.
type captureWriter struct {
	http.ResponseWriter
	status  int
	relay   bool
	decided bool
	refused string // the relay header of a refusal (a non-2xx status)
}

func (cw *captureWriter) WriteHeader(code int) {
	if cw.decided {
		if !cw.relay {
			cw.ResponseWriter.WriteHeader(code)
		}
		return
	}
	cw.decided, cw.status = true, code
	if vs := cw.Header().Values(HeaderName); len(vs) > 0 {
		// Set, even to an empty value: the handler asked for a relay (an
		// empty value is then refused as a bad header, not passed on).
		if code >= 200 && code < 300 {
			cw.relay = true
			return
		}
		cw.refused = vs[0]
		cw.Header().Del(HeaderName) // a refusal: pass it on, without the header
	}
	cw.ResponseWriter.WriteHeader(code)
}

func (cw *captureWriter) Write(b []byte) (int, error) {
	if !cw.decided {
		cw.WriteHeader(http.StatusOK)
	}
	if cw.relay {
		return len(b), nil // a relayed response has no body
	}
	return cw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (cw *captureWriter) Unwrap() http.ResponseWriter { return cw.ResponseWriter }

// decide reports, once the handler returned, whether to relay.
func (cw *captureWriter) decide() bool {
	if !cw.decided {
		cw.decided = true
		cw.relay = len(cw.Header().Values(HeaderName)) > 0
	}
	return cw.relay
}
