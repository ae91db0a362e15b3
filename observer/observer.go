// Package observer serves the live observer: web pages that show a running
// node — its processes, names, process groups and counters — updated every
// second over a WebSocket that this runtime's own relay carries to an
// observer process.
//
// docs/observer.md is the user guide.
package observer

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wsrelay/wsrelay/internal/origin"
	"github.com/wsrelay/wsrelay/pg"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/wsrelay"
)

//go:embed assets
var assets embed.FS

// Options configure an observer.
type Options struct {
	// Addr is the address to listen on, such as "127.0.0.1:9100".
	// Required. An address that is not loopback needs a Token.
	Addr string
	// Token, when set, is required of every request: as a cookie set by
	// opening any page with ?token=..., or as "Authorization: Bearer ...".
	Token string
	// Node is the node observed. Required.
	Node *process.Node
	// Groups are the node's process groups, if any.
	Groups *pg.Service
	// Counters, if set, returns the node's running totals to chart (for
	// example "frames_in", "frames_out"); the pages show their rate a
	// second.
	Counters func() map[string]float64
	// Actions lets pages act on the node's processes (cancel, kill, close
	// a connection, send a message); off by default. Each action is
	// logged.
	Actions bool
	// Conns lists the node's relay connections, and Tracer traces one
	// (see Local); nil: the node has none to show.
	Conns  func(yield func(ConnInfo) bool)
	Tracer TraceFunc
	// Global lists the cluster-wide names, and Lua a Lua process's use
	// of its budget (see Local).
	Global func() []NameView
	Lua    func(pid.PID) (LuaUsage, bool)
	// Cluster reaches the other nodes, on a node of a cluster; nil on
	// one node.
	Cluster Cluster
	// Logger receives the observer's logs. Default: discarded.
	Logger *slog.Logger
}

// requestTimeout bounds the reading of a request (its body is at most
// 64 KiB), and a connection's wait for its next one.
const requestTimeout = 10 * time.Second

// Host is the process host of the observer's processes.
const Host = "observer"

// Observer is a running observer. Make it with Start; Close stops it.
type Observer struct {
	opts  Options
	log   *slog.Logger
	ln    net.Listener
	srv   *http.Server
	relay *wsrelay.Relay
	hub   pid.PID // the observer process: the target of every page's WebSocket
	h     *hub
	start time.Time
	local Local

	seenMu sync.Mutex
	seen   map[string]time.Time // every other node seen, with its last heartbeat: one gone from the cluster link shows as down

	ctx       context.Context // ends at Close: the views being computed stop asking other nodes
	cancel    context.CancelFunc
	busy      sync.WaitGroup // the goroutines computing views
	cpu       chan struct{}  // held while this node's views are computed (onCPU)
	cookie    string         // the cookie's value, with a token (cookieOf)
	closeOnce sync.Once
	served    chan struct{}
}

// work runs f on a goroutine of its own that Close waits for.
func (o *Observer) work(f func()) {
	o.busy.Add(1)
	go func() {
		defer o.busy.Done()
		f()
	}()
}

// ErrNeedsToken: a non-loopback address without a token.
var ErrNeedsToken = errors.New("observer: a non-loopback address needs a token: give --observe-token-file FILE, or listen on 127.0.0.1")

// Start checks the options, listens and serves.
func Start(opts Options) (*Observer, error) {
	if opts.Node == nil {
		return nil, errors.New("observer: Options.Node is required")
	}
	if err := CheckAddr(opts.Addr, opts.Token); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	o := &Observer{opts: opts, log: opts.Logger, start: time.Now(), served: make(chan struct{}), seen: map[string]time.Time{}, cpu: make(chan struct{}, 1),
		local: Local{Node: opts.Node, PG: opts.Groups, Counters: opts.Counters, Conns: opts.Conns, Tracer: opts.Tracer, Global: opts.Global, Lua: opts.Lua, Payloads: opts.Token != ""}}
	o.ctx, o.cancel = context.WithCancel(context.Background())
	if opts.Token != "" {
		o.cookie = cookieOf(opts.Token)
	}
	if _, ok := opts.Node.Host(Host); !ok {
		if _, err := opts.Node.AddHost(Host, &process.HostOptions{MailboxSize: 1024}); err != nil {
			return nil, err
		}
	}
	o.h = newHub(o)
	hub, err := opts.Node.SpawnReactive(Host, o.h, process.SpawnOptions{Entry: "observer", Quiet: true})
	if err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	o.hub, o.h.self = hub, hub // before the server serves: nothing reaches the hub sooner
	// The Host rule against DNS rebinding is the observer's own
	// (loopbackHosts): off with a token, so that a proxy in front of a
	// loopback observer can carry its pages' socket too.
	rl, err := wsrelay.New(wsrelay.Options{Node: opts.Node, Logger: opts.Logger, Route: "observer", Host: Host,
		RawPayload: true, MaxMessageSize: 4096, OutboundQueue: 64, AllowedHosts: "*"})
	if err != nil {
		opts.Node.Terminate(hub)
		return nil, fmt.Errorf("observer: %w", err)
	}
	o.relay = rl
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		opts.Node.Terminate(hub)
		return nil, fmt.Errorf("observer: listen on %s: %w", opts.Addr, err)
	}
	o.ln = ln
	// A token is checked once a request's headers are in: until then,
	// and between requests, the timeouts are all that bound what a
	// connection holds (a goroutine, a descriptor of the node's). The
	// pages' sockets have theirs from the relay, which clears these.
	o.srv = &http.Server{Handler: o.routes(), ReadHeaderTimeout: requestTimeout, ReadTimeout: requestTimeout,
		WriteTimeout: 3 * requestTimeout, IdleTimeout: requestTimeout, MaxHeaderBytes: 64 << 10}
	go func() {
		defer close(o.served)
		if err := o.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			o.log.Error("observer stopped serving", "error", err.Error())
		}
	}()
	return o, nil
}

// CheckAddr refuses an address the observer cannot listen on safely: a
// non-loopback one without a token.
func CheckAddr(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("observer: address %q: %w", addr, err)
	}
	if token != "" {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w (address %q)", ErrNeedsToken, addr)
}

// Ticks counts the observer's update rounds: one a second while a page
// is open, none while none is.
func (o *Observer) Ticks() uint64 { return o.h.ticks.Load() }

// Addr is the address the observer listens on.
func (o *Observer) Addr() string { return o.ln.Addr().String() }

// Close stops serving, closes the pages' connections and ends the
// observer's process.
func (o *Observer) Close(ctx context.Context) error {
	var err error
	o.closeOnce.Do(func() {
		err = o.srv.Shutdown(ctx)
		o.relay.Shutdown(ctx)
		o.opts.Node.Terminate(o.hub)
		o.cancel()
		o.busy.Wait()
		<-o.served
	})
	return err
}

// pages are the paths the page shell answers; each renders its view by
// its path, so that a reload or a bookmark shows the same view.
var pages = []string{"/", "/processes", "/connections", "/crashes", "/groups", "/names"}

func (o *Observer) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(static)))
	mux.HandleFunc("GET /{$}", o.page)
	for _, p := range pages[1:] {
		mux.HandleFunc("GET "+p, o.page)
	}
	mux.HandleFunc("GET /connections/{pid}", o.page)
	mux.HandleFunc("GET /processes/{pid}", o.page)
	for _, v := range []string{"overview", "processes", "process", "connections", "trace", "crashes", "groups", "names"} {
		mux.HandleFunc("GET /api/"+v, o.api(v))
	}
	mux.HandleFunc("POST /api/act", o.act)
	mux.HandleFunc("GET /api/config", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"node":%q,"actions":%t}`, o.opts.Node.Name(), o.opts.Actions)
	})
	mux.Handle("GET /live", o.relay.Middleware(http.HandlerFunc(o.live)))
	return o.loopbackHosts(o.auth(secure(mux)))
}

// loopbackHosts refuses, on an observer without a token, a request that
// reached a loopback address naming a Host that is not loopback: a page
// of another site whose name was rebound to 127.0.0.1 (DNS rebinding) is
// same-origin with what it reaches, so the Origin checks let it through
// and nothing else stands between it and every view and action. With a
// token such a page has no cookie, so a proxy may name the observer as
// it likes.
func (o *Observer) loopbackHosts(next http.Handler) http.Handler {
	if o.opts.Token != "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !(origin.Hosts{}).AllowsRequest(r) {
			w.Header().Set("Connection", "close")
			http.Error(w, origin.HostRefusal(r.Host), http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (o *Observer) page(w http.ResponseWriter, r *http.Request) {
	b, err := assets.ReadFile("assets/index.html")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b)
}

// live answers the page's WebSocket: the relay connects it to the
// observer process.
func (o *Observer) live(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(wsrelay.HeaderName, `{"target_pid":"`+o.hub.String()+`"}`)
}

// auth requires the token, when there is one: from the cookie, the
// Authorization header, or ?token= (which also sets the cookie).
func (o *Observer) auth(next http.Handler) http.Handler {
	if o.opts.Token == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if t := r.URL.Query().Get("token"); t != "" && equal(t, o.opts.Token) {
			http.SetCookie(w, &http.Cookie{Name: cookieName, Value: o.cookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			if r.Method == http.MethodGet && isPage(r.URL.Path) {
				// On to the page's address without the token: it stays
				// out of the address bar, the history and bookmarks.
				q := r.URL.Query()
				q.Del("token")
				u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
				w.Header().Set("Cache-Control", "no-store")
				http.Redirect(w, r, u.RequestURI(), http.StatusSeeOther)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if c, err := r.Cookie(cookieName); err == nil && equal(c.Value, o.cookie) {
			next.ServeHTTP(w, r)
			return
		}
		if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && equal(t, o.opts.Token) {
			next.ServeHTTP(w, r)
			return
		}
		http.Error(w, "the observer needs its token: open a page with ?token=TOKEN once", http.StatusUnauthorized)
	})
}

// isPage reports whether path is one of the pages (not the API, the
// live socket or the assets).
func isPage(path string) bool {
	return !strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/assets/") && path != "/live"
}

// cookieName names the observer's cookie.
const cookieName = "wsrelay_observer"

// cookieOf is the value of the cookie that stands for token: derived
// from it, in bytes any cookie may carry (a token may hold ';', '"' or
// non-ASCII bytes, which browsers and net/http drop), and not the token
// itself, which cookies show to every server of the same host, whatever
// its port.
func cookieOf(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("wsrelay observer cookie"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// secure sets headers that keep the pages from being framed or from
// running anything but their own scripts.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store") // the views are live, and some are not for every eye
		next.ServeHTTP(w, r)
	})
}
