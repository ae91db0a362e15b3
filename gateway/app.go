package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/process"
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
	// process.Options and the cluster package). Default nil: one node.
	Transport    process.Transport
	ClusterNames process.NameLookup
}

// App is a built app: Start runs it, Shutdown stops it.
type App struct {
	cfg     *config.App
	log     *slog.Logger
	node    *process.Node
	lua     *luart.Runtime
	metrics *metrics

	servers  []*server
	services []*service
	handlers []*luart.Handler

	mu         sync.Mutex
	started    bool
	onShutdown []func(ctx context.Context)
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
	rt, err := luart.New(luart.Options{Node: node, Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: opts.Logger, node: node, lua: rt, metrics: newMetrics(node)}
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
		return nil, err
	}
	return a, nil
}

// Node returns the app's process node.
func (a *App) Node() *process.Node { return a.node }

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
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			a.stopLocked(context.Background())
			return fmt.Errorf("gateway: %s: listen on %s: %w", s.id, s.addr, err)
		}
		s.ln = ln
	}
	for _, s := range a.services {
		if err := s.start(); err != nil {
			a.stopLocked(context.Background())
			return err
		}
	}
	for _, s := range a.servers {
		a.log.Info("listening", "service", s.id, "addr", s.ln.Addr().String())
		s.serve()
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

// Shutdown stops the app within ctx: the HTTP servers stop accepting and
// let in-flight requests finish, shutdown hooks run (the relay closes its
// connections), then every process is cancelled and waited for. It
// returns what did not stop cleanly.
func (a *App) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.stopLocked(ctx)
}

func (a *App) stopLocked(ctx context.Context) error {
	var errs []error
	for i := len(a.servers) - 1; i >= 0; i-- {
		if err := a.servers[i].shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	for i := len(a.onShutdown) - 1; i >= 0; i-- {
		a.onShutdown[i](ctx)
	}
	a.onShutdown = nil
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
}

// server is one http.service.
type server struct {
	id   string
	addr string
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
	log  *slog.Logger
}

func (s *server) serve() {
	s.done = make(chan struct{})
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
	if err != nil {
		s.srv.Close()
		err = fmt.Errorf("gateway: %s: requests still running at the shutdown deadline were cut: %w", s.id, err)
	}
	<-s.done
	return err
}
