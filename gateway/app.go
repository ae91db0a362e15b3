package gateway

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/internal/appdata"
	"github.com/wsrelay/wsrelay/internal/logtext"
	"github.com/wsrelay/wsrelay/internal/origin"
	"github.com/wsrelay/wsrelay/internal/ratelog"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/pg"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/supervisor"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// Options configure Build. Every field has a default.
type Options struct {
	// Logger receives the app's logs. Default: discarded.
	Logger *slog.Logger
	// NodeName is the node part of PIDs. Default "local".
	NodeName string
	// Middleware are the middleware routers may list. Default: cors and
	// websocket_relay.
	Middleware []*Middleware
	// Transport and ClusterNames join the node to a cluster (see
	// process.Options and the cluster package: *cluster.Transport and
	// *cluster.Names). Default nil: one node.
	// When ClusterNames is also a luart.ClusterNames (cluster.Names is),
	// Lua's process.registry.CONSISTENT registers there.
	Transport    transport.Transport
	ClusterNames process.NameLookup
	// LuaLogLines is how many lines a second each Lua entry's logger and
	// print may write (luart.Options.LogLines). Default
	// luart.DefaultLogLines (50); negative: no limit.
	LuaLogLines int
}

// App is a built app: Start runs it, Shutdown stops it.
type App struct {
	cfg     *config.App
	log     *slog.Logger
	node    *process.Node
	cnames  process.NameLookup // cluster-wide names; nil on one node
	lua     *luart.Runtime
	metrics *metrics
	groups  *pg.Service // the pg.scope entries; nil when there are none

	servers  []*server
	services *supervisor.Supervisor // the process.service entries
	handlers []*luart.Handler
	closers  []io.Closer // static directories' roots
	warnings []string

	// processGrace is the longest cancel_grace of the app's process
	// hosts: the time Shutdown keeps for processes.
	processGrace time.Duration
	// graces is each process host's cancel_grace.
	graces map[string]time.Duration
	// stopping ends when Shutdown cancels the processes: the cluster
	// services' supervisors end their NATS requests then, so that they
	// end within their grace however long JetStream takes to answer.
	stopping context.Context
	stop     context.CancelFunc

	mu         sync.Mutex
	started    bool
	onShutdown []func(ctx context.Context)
}

// grace returns the cancel_grace of the process host named host.
func (a *App) grace(host string) time.Duration {
	return cmp.Or(a.graces[host], process.DefaultCancelGrace)
}

// Build makes an app of a configuration. Problems come back as
// config.Errors, every one of them, each naming its file, entry and field.
func Build(cfg *config.App, opts Options) (*App, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Middleware == nil {
		opts.Middleware = []*Middleware{CORS(), Relay()}
	}
	node, err := process.NewNode(&process.Options{Name: opts.NodeName, Logger: opts.Logger,
		Transport: opts.Transport, ClusterNames: opts.ClusterNames})
	if err != nil {
		return nil, err
	}
	groups, err := newGroups(cfg, node, opts)
	if err != nil {
		return nil, err
	}
	lo := luart.Options{Node: node, Logger: opts.Logger, LogLines: opts.LuaLogLines,
		Env: appdata.NewEnv(cfg, nil), Registry: appdata.NewRegistry(cfg), Groups: groups,
		OnSpawn: wsrelay.Own} // a handler's spawns may be its connection's target

	if cn, ok := opts.ClusterNames.(luart.ClusterNames); ok {
		lo.ClusterNames = cn
	}
	rt, err := luart.New(lo)
	if err != nil {
		if groups != nil {
			groups.Close()
		}
		return nil, err
	}
	a := &App{cfg: cfg, log: opts.Logger, node: node, cnames: opts.ClusterNames, lua: rt, metrics: newMetrics(node, opts.Transport), graces: map[string]time.Duration{}, groups: groups}
	a.stopping, a.stop = context.WithCancel(context.Background())
	a.services = supervisor.New(supervisor.Options{Node: node, Lua: rt, Logger: opts.Logger,
		Names: opts.ClusterNames, Stopping: a.stopping, Grace: a.grace})
	b := &builder{app: a, middleware: map[string]*Middleware{}}
	for _, m := range opts.Middleware {
		b.middleware[m.Name] = m
	}
	for _, e := range cfg.Entries {
		b.build(e)
	}
	b.buildHTTP()
	if err := b.probs.Err(); err != nil {
		a.closeHandlers()
		if groups != nil {
			groups.Close()
		}
		return nil, err
	}
	return a, nil
}

// Node returns the app's process node.
func (a *App) Node() *process.Node { return a.node }

// Groups returns the app's process groups (its pg.scope entries); nil
// when it has none.
func (a *App) Groups() *pg.Service { return a.groups }

// Warnings returns what Build found risky but not wrong, one sentence
// each (wsrelay check prints them).
func (a *App) Warnings() []string { return slices.Clone(a.warnings) }

// Lua returns the app's Lua runtime.
func (a *App) Lua() *luart.Runtime { return a.lua }

// Start listens on every http.service address and starts the services, in
// dependency order. On an error nothing is left running.
func (a *App) Start() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("gateway: app already started")
	}
	a.started = true
	for _, s := range a.servers {
		if s.off {
			a.log.Info("not started (lifecycle.auto_start: false)", "service", s.id, "addr", s.addr)
			continue
		}
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			a.stopLocked(context.Background())
			return fmt.Errorf("gateway: %s: listen on %s: %w", s.id, s.addr, err)
		}
		s.ln = ln
	}
	if err := a.services.Start(); err != nil {
		a.stopLocked(context.Background())
		return err
	}
	for _, s := range a.servers {
		if s.off {
			continue
		}
		if err := a.awaitServices(s); err != nil {
			a.stopLocked(context.Background())
			return err
		}
		a.log.Info("listening", "service", s.id, "addr", s.ln.Addr().String())
		s.serve()
	}
	return nil
}

// awaitServices waits until the process.service entries an http.service
// depends on run, for at most its start_timeout in all.
func (a *App) awaitServices(s *server) error {
	if err := a.services.Await(s.dependsOn, s.startTimeout); err != nil {
		return fmt.Errorf("gateway: %s does not serve: %w", s.id, err)
	}
	return nil
}

// Addr returns the address an http.service entry listens on (useful with
// port 0), and whether it is listening.
func (a *App) Addr(serviceID string) (net.Addr, bool) {
	for _, s := range a.servers {
		if s.id == serviceID && s.ln != nil {
			return s.ln.Addr(), true
		}
	}
	return nil, false
}

// Shutdown stops the app within ctx. At once, the HTTP servers stop
// accepting and the shutdown hooks run (the relay closes every WebSocket
// with 1001 and its target gets ws.leave "shutdown"), while the HTTP
// requests in flight drain. Requests still running when the drain window
// ends (ctx's deadline less the time kept for processes: the longest
// cancel_grace of a process host plus a second, at most half of what is
// left) have their contexts cancelled and are cut. Then every process is
// cancelled and waited for, within its grace period. It returns what did
// not stop cleanly.
func (a *App) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopLocked(ctx)
}

func (a *App) stopLocked(ctx context.Context) error {
	drain, cancelDrain := context.WithCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		reserve := min(a.processGrace+time.Second, time.Until(dl)/2)
		drain, cancelDrain = context.WithDeadline(ctx, dl.Add(-reserve))
	}
	defer cancelDrain()
	var wg sync.WaitGroup
	errs := make([]error, len(a.servers))
	for i, s := range a.servers {
		wg.Go(func() { errs[i] = s.shutdown(drain) })
	}
	for _, hook := range a.onShutdown {
		wg.Go(func() { hook(ctx) })
	}
	wg.Wait()
	a.onShutdown = nil
	a.stop()
	if a.groups != nil {
		a.groups.Close()
	}
	if err := a.node.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	a.closeHandlers()
	return errors.Join(errs...)
}

func (a *App) closeHandlers() {
	for _, h := range a.handlers {
		h.Close()
	}
	a.handlers = nil
	for _, c := range a.closers {
		_ = c.Close()
	}
	a.closers = nil
}

// server is one http.service.
type server struct {
	id   string
	addr string
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
	log  *slog.Logger
	// requestLog takes the lines requests cause (refused hosts, net/http's
	// own errors), limited: see newServer.
	requestLog *ratelog.Logger
	off        bool // lifecycle.auto_start: false
	// dependsOn are the entries of lifecycle.depends_on: the server
	// serves once the process.service entries among them run, waiting
	// at most startTimeout.
	dependsOn    []string
	startTimeout time.Duration
	// stopRequests cancels the base context of every request, at the end
	// of the drain window.
	stopRequests context.CancelFunc
	// hosts are the names besides the loopback ones a request on a
	// loopback connection may name (allowedHosts as written).
	hosts        origin.Hosts
	allowedHosts string
}

// guardHosts refuses, with 421, a request that reached the service on a
// loopback address but names a Host that is neither a loopback name nor in
// allowed_hosts: a page on a rebound DNS name must not reach a local
// server, on any route.
func (s *server) guardHosts(next http.Handler, m *metrics) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hosts.AllowsRequest(r) {
			s.requestLog.Debug("request refused: a loopback connection named a host that is neither loopback nor in allowed_hosts (DNS rebinding?)", "host", logtext.Cut(r.Host, maxLogRequest), "path", logtext.Cut(r.URL.Path, maxLogRequest), "remote", r.RemoteAddr)
			m.Refused(wsrelay.RefusedHost)
			w.Header().Set("Connection", "close")
			http.Error(w, origin.HostRefusal(r.Host), http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *server) serve() {
	s.done = make(chan struct{})
	base, cancel := context.WithCancel(context.Background())
	s.stopRequests = cancel
	s.srv.BaseContext = func(net.Listener) context.Context { return base }
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http service stopped", "service", s.id, "error", err)
		}
	}()
}

func (s *server) shutdown(ctx context.Context) error {
	if s.ln == nil {
		return nil
	}
	if s.done == nil { // listening but never served
		return s.ln.Close()
	}
	err := s.srv.Shutdown(ctx)
	s.stopRequests()
	if err != nil {
		s.srv.Close()
		err = fmt.Errorf("gateway: %s: requests still running when the shutdown's drain window ended were cancelled: %w", s.id, err)
	}
	<-s.done
	return err
}
