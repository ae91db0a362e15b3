package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/internal/origin"
	"github.com/wsrelay/wsrelay/internal/suggest"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/process"
)

// builder turns entries into the app's parts, collecting problems.
type builder struct {
	app        *App
	middleware map[string]*Middleware
	probs      config.Errors

	servers   map[string]*server
	routers   []*config.Entry
	endpoints []*config.Entry
	statics   []*config.Entry
	functions map[string]*luart.Handler
	programs  map[string]*luart.Program
	cfg       *config.App
	libraries map[string]*luart.Program  // compiled library.lua entries; nil value: failed
	byFile    map[string][]*config.Entry // function.lua and process.lua entries by source file
	built     map[string][]func(http.Handler) http.Handler
	metricsAt []*config.Entry
}

func (b *builder) fail(p *config.Problem) { b.probs = append(b.probs, p) }

func (b *builder) build(e *config.Entry) {
	a := b.app
	switch s := e.Spec.(type) {
	case *config.HTTPService:
		hosts, _ := origin.ParseHosts(strings.Join(s.AllowedHosts, ",")) // checked by config
		requests := limited(a.log.With("service", e.ID), requestLines)
		srv := &server{id: e.ID, addr: s.Addr, log: a.log, requestLog: requests, off: !s.Lifecycle.Started(), dependsOn: s.Lifecycle.DependsOn, startTimeout: s.Lifecycle.StartTimeout.Value, hosts: hosts, allowedHosts: strings.Join(s.AllowedHosts, ","), srv: &http.Server{
			ReadHeaderTimeout: s.Timeouts.ReadHeader.Value,
			ReadTimeout:       s.Timeouts.Read.Value,
			WriteTimeout:      s.Timeouts.Write.Value,
			IdleTimeout:       s.Timeouts.Idle.Value,
			ErrorLog:          errorLog(requests),
		}}
		if b.servers == nil {
			b.servers = map[string]*server{}
		}
		b.servers[e.ID] = srv
		a.servers = append(a.servers, srv)
	case *config.HTTPRouter:
		b.routers = append(b.routers, e)
	case *config.HTTPEndpoint:
		b.endpoints = append(b.endpoints, e)
	case *config.HTTPStatic:
		b.statics = append(b.statics, e)
	case *config.HTTPMetrics:
		b.metricsAt = append(b.metricsAt, e)
	case *config.FunctionLua:
		prog := b.compile(e, &s.LuaSource, luart.KindFunction)
		if prog == nil {
			return
		}
		h, err := a.lua.Handler(prog, s.Timeout.Value)
		if err != nil {
			b.fail(e.Problem("", "%v", err))
			return
		}
		a.handlers = append(a.handlers, h)
		if b.functions == nil {
			b.functions = map[string]*luart.Handler{}
		}
		b.functions[e.ID] = h
	case *config.ProcessLua:
		if prog := b.compile(e, &s.LuaSource, luart.KindProcess); prog != nil {
			if err := a.lua.Add(prog); err != nil {
				b.fail(e.Problem("", "%v", err))
			}
			if b.programs == nil {
				b.programs = map[string]*luart.Program{}
			}
			b.programs[e.ID] = prog
		}
	case *config.LibraryLua:
		b.library(e.ID)
	case *config.EnvStorageOS, *config.EnvStorageStatic, *config.EnvStorageMemory, *config.EnvStorageRouter, *config.EnvStorageFile,
		*config.EnvVariable, *config.RegistryEntry, *config.FSDirectory,
		*config.NSDefinition, *config.NSRequirement, *config.NSDependency:
		// Data for the env and registry modules (Build gave them to Lua);
		// components were linked when the app loaded.
	case *config.ProcessHost:
		if !s.Lifecycle.Started() {
			return // lifecycle.auto_start: false: checked, not created
		}
		if _, err := a.node.AddHost(e.ID, &process.HostOptions{MailboxSize: s.MailboxSize, MailboxBytes: int(s.MaxMailboxBytes), CancelGrace: s.CancelGrace.Value, MaxProcesses: s.Host.MaxProcesses}); err != nil {
			b.fail(e.Problem("", "%v", err))
		}
		a.processGrace = max(a.processGrace, s.CancelGrace.Value)
		a.graces[e.ID] = s.CancelGrace.Value
	case *config.ProcessService:
		prog := b.programs[s.Process]
		if prog == nil {
			return // its process.lua entry failed to compile; already reported
		}
		if err := a.services.Add(e.ID, s, prog); err != nil {
			b.fail(e.Problem("args", "%v", err))
		}
	case *config.PGScope:
		b.buildScope(e, s)
	case *config.Observer:
		// Served beside the app by wsrelay run (package observer).
	default:
		b.fail(e.Problem("kind", "this build of wsrelay cannot run kind %s", e.Kind))
	}
}

// CheckLua compiles the Lua sources of an app's entries and returns the
// problems: for diagnosing an app whose configuration also has problems
// (Build compiles them itself).
func CheckLua(cfg *config.App) config.Errors {
	b := &builder{cfg: cfg}
	for _, e := range cfg.Entries {
		switch s := e.Spec.(type) {
		case *config.LibraryLua:
			if s.Code != nil {
				b.library(e.ID)
			}
		case *config.FunctionLua:
			if s.Code != nil {
				b.compile(e, &s.LuaSource, luart.KindFunction)
			}
		case *config.ProcessLua:
			if s.Code != nil {
				b.compile(e, &s.LuaSource, luart.KindProcess)
			}
		}
	}
	return b.probs
}

// library compiles the library.lua entry of an id once, and returns it,
// or nil when it has problems (reported once). Libraries are compiled on
// demand, the ones a library imports first: an app with problems comes in
// no useful order. A cycle of imports is reported by config.
func (b *builder) library(id string) *luart.Program {
	if p, done := b.libraries[id]; done {
		return p
	}
	if b.libraries == nil {
		b.libraries = map[string]*luart.Program{}
	}
	b.libraries[id] = nil // while it compiles: a cycle finds nil
	e, ok := b.config().Entry(id)
	if !ok {
		return nil
	}
	s, ok := e.Spec.(*config.LibraryLua)
	if !ok || s.Code == nil {
		return nil
	}
	p := b.compileCode(e, &s.LuaCode, "", 0, luart.KindLibrary, b.importerModules(id))
	b.libraries[id] = p
	return p
}

// sharedModules lists the modules and imports that the other Lua entries
// whose source is file declare.
func (b *builder) sharedModules(self *config.Entry, file string) []string {
	if b.byFile == nil {
		b.byFile = map[string][]*config.Entry{}
		for _, e := range b.config().Entries {
			if c := luaCode(e); c != nil {
				b.byFile[c.File] = append(b.byFile[c.File], e)
			}
		}
	}
	var out []string
	for _, e := range b.byFile[file] {
		if e == self {
			continue
		}
		c := luaCode(e)
		out = append(out, c.Modules...)
		for name := range c.Imports {
			out = append(out, name)
		}
	}
	return out
}

// luaCode returns the Lua code of a function.lua or process.lua entry.
func luaCode(e *config.Entry) *config.LuaCode {
	switch s := e.Spec.(type) {
	case *config.FunctionLua:
		return &s.LuaCode
	case *config.ProcessLua:
		return &s.LuaCode
	}
	return nil
}

func (b *builder) config() *config.App {
	if b.cfg != nil {
		return b.cfg
	}
	return b.app.cfg
}

// compile compiles a function.lua or process.lua entry.
func (b *builder) compile(e *config.Entry, src *config.LuaSource, kind luart.Kind) *luart.Program {
	return b.compileCode(e, &src.LuaCode, src.Method, src.MaxMemory, kind, b.sharedModules(e, src.File))
}

// importerModules lists the modules of the function.lua and process.lua
// entries that import the library id: its code runs in their processes.
func (b *builder) importerModules(id string) []string {
	var out []string
	for _, e := range b.config().Entries {
		if c := luaCode(e); c != nil && slices.Contains(slices.Collect(maps.Values(c.Imports)), id) {
			out = append(out, c.Modules...)
		}
	}
	return out
}

// compileCode compiles a Lua entry, reporting problems against its
// source. An entry importing a library that failed is not compiled: the
// library's problems are reported.
func (b *builder) compileCode(e *config.Entry, src *config.LuaCode, method string, maxMemory int64, kind luart.Kind, shared []string) *luart.Program {
	var imports map[string]*luart.Program
	failed := false
	for name, id := range src.Imports {
		lib := b.library(id)
		if lib == nil {
			// Its problems are reported; a stand-in lets the importer's
			// own problems be found too.
			failed = true
			lib, _ = luart.Compile(luart.Source{ID: id, File: id, Kind: luart.KindLibrary})
		}
		if imports == nil {
			imports = map[string]*luart.Program{}
		}
		imports[name] = lib
	}
	prog, err := luart.Compile(luart.Source{ID: e.ID, File: src.File, Code: src.Code, Method: method, Modules: src.Modules, Imports: imports,
		SharedModules: shared, Kind: kind, MaxMemory: maxMemory})
	if err == nil {
		if failed {
			return nil
		}
		return prog
	}
	for _, err := range unjoin(err) { // every problem of the entry
		var se *luart.SyntaxError
		var re *luart.RequireError
		switch {
		case errors.As(err, &se):
			b.fail(&config.Problem{File: src.File, Line: se.Line, Entry: e.ID, Field: "source", Msg: "Lua syntax error: " + se.Msg})
		case errors.As(err, &re):
			b.fail(&config.Problem{File: src.File, Line: re.Line, Entry: e.ID, Field: "source", Msg: fmt.Sprintf("require(%q): %s", re.Name, re.Msg)})
		case errors.Is(err, luart.ErrUnknownModule):
			b.fail(e.Problem("modules", "%s", strings.TrimPrefix(err.Error(), e.ID+": modules: ")))
		case errors.Is(err, luart.ErrNoMethod):
			b.fail(e.Problem("method", "%s", strings.TrimPrefix(err.Error(), e.ID+": method: ")))
		default:
			b.fail(e.Problem("", "%v", err))
		}
	}
	return nil
}

// buildHTTP puts routers, endpoints and static directories on the muxes of
// their services.
func (b *builder) buildHTTP() {
	muxes := map[string]*http.ServeMux{}
	owner := map[string]map[string]string{} // service → pattern → entry id
	mux := func(id string) *http.ServeMux {
		if muxes[id] == nil {
			muxes[id] = http.NewServeMux()
			owner[id] = map[string]string{}
			if srv := b.servers[id]; srv != nil {
				srv.srv.Handler = srv.guardHosts(muxes[id], b.app.metrics)
			}
		}
		return muxes[id]
	}
	handle := func(e *config.Entry, field, service string, m *http.ServeMux, pattern string, h http.Handler) {
		if err := safeHandle(m, pattern, h); err != nil {
			if other := owner[service][pattern]; other != "" {
				b.fail(e.Problem(field, "%s is already served by %s", pattern, other))
			} else {
				b.fail(e.Problem(field, "%s overlaps a route of another entry: %v", pattern, err))
			}
			return
		}
		owner[service][pattern] = e.ID
	}

	routerMuxes := map[string]*http.ServeMux{}
	for _, e := range b.routers {
		s := e.Spec.(*config.HTTPRouter)
		b.afterRouting(s)
		pre := b.middlewareOf(e, Pre, s.Middleware, s.Opts)
		b.middlewareOf(e, Post, s.PostMiddleware, s.PostOpts) // built (and checked) even with no endpoints
		rm := http.NewServeMux()
		routerMuxes[e.ID] = rm
		owner[e.ID] = map[string]string{}
		handle(e, "prefix", s.Server, mux(s.Server), mountPattern(s.Prefix), chain(rm, pre))
	}
	for _, e := range b.endpoints {
		s := e.Spec.(*config.HTTPEndpoint)
		re, _ := b.app.cfg.Entry(s.Router)
		r := re.Spec.(*config.HTTPRouter)
		h := b.functions[s.Func]
		if h == nil || routerMuxes[s.Router] == nil {
			continue // reported already
		}
		post := b.middlewareOf(re, Post, r.PostMiddleware, r.PostOpts)
		pattern := s.Method + " " + joinPath(r.Prefix, s.Path)
		b.warnRelayHeader(e, s, r)
		guard := &relayHeaderGuard{next: chain(ran(h), post), endpoint: e.ID, router: s.Router, log: limited(b.app.log, relayHdrLines)}
		handle(e, "path", s.Router, routerMuxes[s.Router], pattern, b.app.metrics.timed(e.ID, guard))
	}
	for _, e := range b.statics {
		s := e.Spec.(*config.HTTPStatic)
		h, closer, err := staticHandler(b.app.cfg.FS, b.app.cfg.Dir, s.Dir, s.Path, s.Options, b.app.log.With("static", e.ID))
		if err != nil {
			b.fail(e.Problem("directory", "%v", err))
			continue
		}
		b.app.closers = append(b.app.closers, closer)
		handle(e, "path", s.Server, mux(s.Server), mountPattern(s.Path), h)
	}
	for _, e := range b.metricsAt {
		s := e.Spec.(*config.HTTPMetrics)
		handle(e, "path", s.Server, mux(s.Server), "GET "+s.Path, b.app.metrics.handler())
	}
	for id := range b.servers {
		mux(id) // a service with no routes still answers (404)
	}
}

// warnRelayHeader warns when an endpoint's Lua function names the relay
// header but its router does not list websocket_relay: the header would
// be removed and whatever the function spawned for the connection left
// running.
func (b *builder) warnRelayHeader(e *config.Entry, s *config.HTTPEndpoint, r *config.HTTPRouter) {
	if slices.Contains(r.PostMiddleware, "websocket_relay") {
		return
	}
	fe, ok := b.app.cfg.Entry(s.Func)
	if !ok {
		return
	}
	if f, ok := fe.Spec.(*config.FunctionLua); ok && mentionsRelayHeader(f.Code) {
		msg := fmt.Sprintf("%s: its function %s (%s) sets X-WS-Relay, but its router %s does not list websocket_relay under post_middleware: the header will be removed and no WebSocket opened", e.ID, s.Func, f.File, s.Router)
		b.app.warnings = append(b.app.warnings, msg)
		b.app.log.Warn("endpoint may set X-WS-Relay on a router without websocket_relay", "endpoint", e.ID, "func", s.Func, "router", s.Router)
	}
}

// middlewareOf builds the middleware a router lists for a stage; each
// router builds its own once, whatever the number of its endpoints.
func (b *builder) middlewareOf(e *config.Entry, stage Stage, names []string, opts map[string]string) []func(http.Handler) http.Handler {
	key := e.ID + "/" + stage.String()
	if b.built == nil {
		b.built = map[string][]func(http.Handler) http.Handler{}
	}
	if mws, ok := b.built[key]; ok {
		return mws
	}
	optField := "options"
	if stage == Post {
		optField = "post_options"
	}
	var listed []*Middleware
	for _, n := range names {
		m, ok := b.middleware[n]
		switch {
		case !ok, m.Stage != stage:
			b.fail(b.middlewareProblem(e, stage, n))
		default:
			listed = append(listed, m)
		}
	}
	split := optionsFor(listed, opts, func(k, msg string) {
		b.fail(e.Problem(optField+"."+k, "%s", msg))
	})
	var mws []func(http.Handler) http.Handler
	for _, m := range listed {
		mc := MiddlewareContext{Router: e.ID, Node: b.app.node, Logger: b.app.log, OnShutdown: b.app.addShutdown, metrics: b.app.metrics}
		if r, ok := e.Spec.(*config.HTTPRouter); ok && b.servers[r.Server] != nil {
			mc.AllowedHosts = b.servers[r.Server].allowedHosts
		}
		mw, err := m.New(mc, split[m.Name])
		if err == nil {
			mws = append(mws, mw)
			continue
		}
		for _, err := range unjoin(err) {
			var oe *OptionError
			if errors.As(err, &oe) {
				b.fail(e.Problem(optField+"."+m.Prefix+"."+oe.Option, "%s", oe.Msg))
			} else {
				b.fail(e.Problem(stage.String(), "%s: %v", m.Name, err))
			}
		}
	}
	b.built[key] = mws
	return mws
}

// middlewareProblem says what is wrong with middleware n listed under stage
// (unknown, or listed under the other stage), or nil when nothing is.
func (b *builder) middlewareProblem(e *config.Entry, stage Stage, n string) *config.Problem {
	m, ok := b.middleware[n]
	switch {
	case !ok:
		var names []string
		for name := range b.middleware {
			names = append(names, name)
		}
		return e.Problem(stage.String(), "unknown middleware %q%s; known: %s", n, suggest.DidYouMean(n, names), b.known(stage))
	case m.Stage != stage:
		return e.Problem(stage.String(), "%s runs %s; list it under %s", n, m.Stage.when(), m.Stage.String())
	}
	return nil
}

// afterRouting moves the middleware that runs after routing (the relay)
// from a router's middleware list to its post_middleware, with its
// options: the original runtime's apps list the relay under middleware,
// and it still runs after routing here.
func (b *builder) afterRouting(r *config.HTTPRouter) {
	keep := r.Middleware[:0:0]
	for _, n := range r.Middleware {
		m, ok := b.middleware[n]
		if !ok || m.Stage != Post {
			keep = append(keep, n)
			continue
		}
		if !slices.Contains(r.PostMiddleware, n) {
			r.PostMiddleware = append(r.PostMiddleware, n)
		}
		for k, v := range r.Opts {
			if strings.HasPrefix(k, m.Prefix+".") {
				if r.PostOpts == nil {
					r.PostOpts = map[string]string{}
				}
				if _, set := r.PostOpts[k]; !set {
					r.PostOpts[k] = v
				}
				delete(r.Opts, k)
			}
		}
	}
	r.Middleware = keep
}

// CheckMiddleware returns the problems of the middleware names routers
// list, for diagnosing an app whose configuration also has problems
// (Build checks them itself), so that every problem is reported at once.
func CheckMiddleware(cfg *config.App, mws []*Middleware) config.Errors {
	b := &builder{middleware: map[string]*Middleware{}}
	for _, m := range mws {
		b.middleware[m.Name] = m
	}
	for _, e := range cfg.Entries {
		r, ok := e.Spec.(*config.HTTPRouter)
		if !ok {
			continue
		}
		b.afterRouting(r)
		b.checkNames(e, Pre, r.Middleware, r.Opts, "options")
		b.checkNames(e, Post, r.PostMiddleware, r.PostOpts, "post_options")
	}
	return b.probs
}

// checkNames reports unknown middleware of a stage, and option keys that
// no listed middleware of it takes (values are checked by Build).
func (b *builder) checkNames(e *config.Entry, stage Stage, names []string, opts map[string]string, optField string) {
	var listed []*Middleware
	for _, n := range names {
		if p := b.middlewareProblem(e, stage, n); p != nil {
			b.fail(p)
		} else {
			listed = append(listed, b.middleware[n])
		}
	}
	optionsFor(listed, opts, func(k, msg string) {
		b.fail(e.Problem(optField+"."+k, "%s", msg))
	})
}

func (b *builder) known(stage Stage) string {
	var names []string
	for n, m := range b.middleware {
		if m.Stage == stage {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func (a *App) addShutdown(f func(ctx context.Context)) {
	a.mu.Lock()
	a.onShutdown = append(a.onShutdown, f)
	a.mu.Unlock()
}

// unjoin splits an errors.Join error into its parts.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// mountPattern is the pattern that serves everything under a prefix.
func mountPattern(prefix string) string {
	if prefix == "/" {
		return "/"
	}
	return strings.TrimSuffix(prefix, "/") + "/"
}

// joinPath puts an endpoint path under its router's prefix.
func joinPath(prefix, path string) string {
	return strings.TrimSuffix(prefix, "/") + path
}

// safeHandle registers a pattern, turning ServeMux's panic on a bad or
// conflicting pattern into an error.
func safeHandle(m *http.ServeMux, pattern string, h http.Handler) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%v", v)
		}
	}()
	m.Handle(pattern, h)
	return nil
}
