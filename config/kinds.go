package config

import (
	"errors"
	"maps"
	"net"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsrelay/wsrelay/internal/origin"
	"github.com/wsrelay/wsrelay/internal/suggest"
)

// The kinds of entry wsrelay knows. StandardKinds lists them for Load;
// docs/config.md describes every field.
const (
	KindHTTPService    = "http.service"
	KindHTTPRouter     = "http.router"
	KindHTTPEndpoint   = "http.endpoint"
	KindHTTPStatic     = "http.static"
	KindFSDirectory    = "fs.directory"
	KindHTTPMetrics    = "http.metrics"
	KindFunctionLua    = "function.lua"
	KindProcessLua     = "process.lua"
	KindLibraryLua     = "library.lua"
	KindProcessHost    = "process.host"
	KindProcessService = "process.service"
)

// StandardKinds returns the kinds of entry wsrelay serves.
func StandardKinds() []Kind {
	kinds := []Kind{
		{KindHTTPService, func() Spec { return &HTTPService{} }},
		{KindHTTPRouter, func() Spec { return &HTTPRouter{} }},
		{KindHTTPEndpoint, func() Spec { return &HTTPEndpoint{} }},
		{KindHTTPStatic, func() Spec { return &HTTPStatic{} }},
		{KindFSDirectory, func() Spec { return &FSDirectory{} }},
		{KindHTTPMetrics, func() Spec { return &HTTPMetrics{} }},
		{KindFunctionLua, func() Spec { return &FunctionLua{} }},
		{KindProcessLua, func() Spec { return &ProcessLua{} }},
		{KindLibraryLua, func() Spec { return &LibraryLua{} }},
		{KindProcessHost, func() Spec { return &ProcessHost{} }},
		{KindProcessService, func() Spec { return &ProcessService{} }},
		{KindPGScope, func() Spec { return &PGScope{} }},
		{KindObserver, func() Spec { return &Observer{} }},
	}
	kinds = append(kinds, EnvKinds()...)
	kinds = append(kinds, ComponentKinds()...)
	return append(kinds, RegistryKinds()...)
}

// HTTPService is an HTTP server listening on an address.
type HTTPService struct {
	Addr      string          `yaml:"addr"`
	Timeouts  ServiceTimeouts `yaml:"timeouts"`
	Lifecycle StartLifecycle  `yaml:"lifecycle"`
	// Relay is the original runtime's host: {buffer_size, worker_count},
	// the queue and workers of its message relay: accepted, no effect
	// (each relay connection here is a process with its own bounded
	// queue).
	Relay HTTPServiceHost `yaml:"host"`
	// AllowedHosts are the host names, besides the loopback ones, that a
	// request reaching the service on a loopback address may name in its
	// Host header (DNS rebinding defence); default none.
	AllowedHosts []string `yaml:"allowed_hosts"`
}

// HTTPServiceHost is the host: field of an http.service.
type HTTPServiceHost struct {
	BufferSize  int `yaml:"buffer_size"`  // accepted, no effect
	WorkerCount int `yaml:"worker_count"` // accepted, no effect
}

// StartLifecycle says whether an http.service or process.host starts with
// the app. One that does not is still checked, with everything that refers
// to it, but not started: it is started by setting auto_start to true,
// typically through an environment reference such as
// auto_start: ${env:ADMIN_API:-false}.
type StartLifecycle struct {
	AutoStart *bool `yaml:"auto_start"` // default true
	Ordering  `yaml:",inline"`
}

// Ordering is what the original runtime's lifecycle fields add: DependsOn
// (or Requires, its other name; they are merged into DependsOn) lists
// entries (services, hosts) that start before this one and stop after it.
// A process.service waits for the process.service entries it depends on
// to run, for at most StartTimeout (default 10s). The stop timeout and
// the stable threshold are checked durations with no effect here.
type Ordering struct {
	DependsOn       []string `yaml:"depends_on"`
	Requires        []string `yaml:"requires"`
	StartTimeout    Duration `yaml:"start_timeout"`
	StopTimeout     Duration `yaml:"stop_timeout"`
	StableThreshold Duration `yaml:"stable_threshold"`
}

// startKinds are what depends_on may name.
var startKinds = []string{KindHTTPService, KindProcessHost, KindProcessService}

func (o *Ordering) check(c *Checker, started bool) {
	for i := range o.DependsOn {
		c.Ref("lifecycle.depends_on", &o.DependsOn[i], startKinds...)
	}
	for i := range o.Requires {
		c.Ref("lifecycle.requires", &o.Requires[i], startKinds...)
		if !slices.Contains(o.DependsOn, o.Requires[i]) {
			o.DependsOn = append(o.DependsOn, o.Requires[i])
		}
	}
	o.Requires = nil
	for _, id := range o.DependsOn {
		if d, ok := c.l.app.byID[id]; ok && started && !entryStarts(d) {
			c.Fail("lifecycle.depends_on", "%s does not start with the app (lifecycle.auto_start: false), so this entry, which does, could never start after it", id)
		}
	}
	c.Duration("lifecycle.start_timeout", &o.StartTimeout, 10*time.Second, time.Millisecond)
	c.Duration("lifecycle.stop_timeout", &o.StopTimeout, 0, 0)
	c.Duration("lifecycle.stable_threshold", &o.StableThreshold, 0, 0)
}

// entryStarts reports whether an entry that depends_on may name starts
// with the app.
func entryStarts(e *Entry) bool {
	switch s := e.Spec.(type) {
	case *HTTPService:
		return s.Lifecycle.Started()
	case *ProcessHost:
		return s.Lifecycle.Started()
	case *ProcessService:
		return s.Lifecycle.AutoStart == nil || *s.Lifecycle.AutoStart
	}
	return true
}

// Started reports whether the entry starts with the app.
func (l StartLifecycle) Started() bool { return l.AutoStart == nil || *l.AutoStart }

// ServiceTimeouts are an http.service's timeouts. WebSocket connections
// are not bound by them once upgraded.
type ServiceTimeouts struct {
	ReadHeader Duration `yaml:"read_header"` // default 10s
	Read       Duration `yaml:"read"`        // default 60s
	Write      Duration `yaml:"write"`       // default 60s
	Idle       Duration `yaml:"idle"`        // default 120s
}

func (s *HTTPService) Check(c *Checker) {
	s.Lifecycle.check(c, s.Lifecycle.Started())
	if c.Required("addr", s.Addr) {
		if _, port, err := net.SplitHostPort(s.Addr); err != nil || port == "" {
			c.Fail("addr", "%q is not a host:port address like \"127.0.0.1:8080\" or \":8080\"", s.Addr)
		}
	}
	if s.Relay.BufferSize < 0 {
		c.Fail("host.buffer_size", "must not be negative")
	}
	if s.Relay.WorkerCount < 0 {
		c.Fail("host.worker_count", "must not be negative")
	}
	c.Duration("timeouts.read_header", &s.Timeouts.ReadHeader, 10*time.Second, time.Millisecond)
	c.Duration("timeouts.read", &s.Timeouts.Read, 60*time.Second, time.Millisecond)
	c.Duration("timeouts.write", &s.Timeouts.Write, 60*time.Second, time.Millisecond)
	c.Duration("timeouts.idle", &s.Timeouts.Idle, 120*time.Second, time.Millisecond)
	for i, h := range s.AllowedHosts {
		if strings.TrimSpace(h) == "" || strings.Contains(h, ",") {
			c.Fail("allowed_hosts", "item %d: %q: write one host name per item", i+1, h)
		} else if _, err := origin.ParseHosts(h); err != nil {
			c.Fail("allowed_hosts", "item %d: %v", i+1, err)
		}
	}
}

// HTTPRouter groups endpoints under a path prefix of a service, with
// middleware.
type HTTPRouter struct {
	Prefix         string         `yaml:"prefix"`
	Middleware     []string       `yaml:"middleware"`
	Options        map[string]any `yaml:"options"`
	PostMiddleware []string       `yaml:"post_middleware"`
	PostOptions    map[string]any `yaml:"post_options"`

	// Server is meta.server resolved to an http.service id.
	Server string `yaml:"-"`
	// Opts and PostOpts are Options and PostOptions as strings.
	Opts, PostOpts map[string]string `yaml:"-"`
}

func (s *HTTPRouter) Check(c *Checker) {
	s.Server = c.MetaRef("server", KindHTTPService)
	if s.Prefix == "" {
		s.Prefix = "/"
	}
	c.URLPath("prefix", s.Prefix)
	if strings.ContainsAny(s.Prefix, "{}") {
		c.Fail("prefix", "%q: a prefix cannot have {parameters}; put them in endpoint paths", s.Prefix)
	}
	s.Opts = c.Options("options", s.Options)
	s.PostOpts = c.Options("post_options", s.PostOptions)
	checkNames(c, "middleware", s.Middleware)
	checkNames(c, "post_middleware", s.PostMiddleware)
}

func checkNames(c *Checker, field string, names []string) {
	for i, n := range names {
		if n == "" {
			c.Fail(field, "item %d is empty", i+1)
		} else if slices.Contains(names[:i], n) {
			c.Fail(field, "%s is listed twice", n)
		}
	}
}

// Methods an endpoint may serve.
var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// HTTPEndpoint serves one method and path of a router with a function.
type HTTPEndpoint struct {
	Method string `yaml:"method"`
	Path   string `yaml:"path"`
	Func   string `yaml:"func"`

	// Router is meta.router resolved to an http.router id.
	Router string `yaml:"-"`
}

func (s *HTTPEndpoint) Check(c *Checker) {
	s.Router = c.MetaRef("router", KindHTTPRouter)
	s.Method = strings.ToUpper(s.Method)
	if c.Required("method", s.Method) && !slices.Contains(httpMethods, s.Method) {
		c.Fail("method", "%q is not one of %s", s.Method, strings.Join(httpMethods, ", "))
	}
	c.URLPath("path", s.Path)
	c.Ref("func", &s.Func, KindFunctionLua)
}

// HTTPStatic serves the files of a directory under a path of a service.
type HTTPStatic struct {
	Path      string `yaml:"path"`
	Directory string `yaml:"directory"`
	// FS is an fs.directory entry to serve, as the original runtime
	// writes it; give directory or fs.
	FS      string        `yaml:"fs"`
	Options StaticOptions `yaml:"static_options"`

	// Server is meta.server resolved to an http.service id.
	Server string `yaml:"-"`
	// Dir is Directory, or FS's directory, relative to the app directory.
	Dir string `yaml:"-"`
}

// StaticOptions are the original runtime's options of an http.static.
type StaticOptions struct {
	// SPA serves Index for a path that names no file (a single-page
	// app's own routes).
	SPA   bool   `yaml:"spa"`
	Index string `yaml:"index"`
	// Cache is the Cache-Control header of every file served.
	Cache string `yaml:"cache"`
}

func (s *HTTPStatic) Check(c *Checker) {
	s.Server = c.MetaRef("server", KindHTTPService)
	if s.Path == "" {
		s.Path = "/"
	}
	c.URLPath("path", s.Path)
	switch {
	case s.FS != "" && s.Directory != "":
		c.Fail("fs", "give directory or fs, not both")
	case s.FS != "":
		c.Ref("fs", &s.FS, KindFSDirectory)
		if t, ok := c.l.app.byID[s.FS]; ok {
			if d, ok := t.Spec.(*FSDirectory); ok {
				s.Dir = path.Join(t.Dir(), d.Directory) // checked by the fs.directory entry
			}
		}
	default:
		s.Dir = c.Directory("directory", s.Directory)
	}
	o := &s.Options
	if o.SPA && o.Index == "" {
		c.Fail("static_options.index", "missing: spa serves this file (index.html, say) for paths that name no file")
	}
	if o.Index != "" && (strings.Contains(o.Index, "/") || strings.HasPrefix(o.Index, ".")) {
		c.Fail("static_options.index", "%q must be a file name at the top of the directory", o.Index)
	}
	if strings.ContainsAny(o.Cache, "\r\n") {
		c.Fail("static_options.cache", "a header value cannot hold a line break")
	}
}

// FSDirectory is a directory of the app, for an http.static's fs. Its
// directory is relative to the entry's file and inside the app directory;
// auto_init, mode and base are the original runtime's, accepted with no
// effect (the directory must exist; nothing here writes to it).
type FSDirectory struct {
	Directory string `yaml:"directory"`
	AutoInit  bool   `yaml:"auto_init"`
	Mode      string `yaml:"mode"`
	Base      string `yaml:"base"`
}

func (s *FSDirectory) Check(c *Checker) {
	c.Directory("directory", s.Directory)
	if s.Base != "" && s.Base != "project" && s.Base != "module" {
		c.Fail("base", "%q is not project or module", s.Base)
	}
}

// HTTPMetrics serves the app's Prometheus metrics on a path of a service.
type HTTPMetrics struct {
	Path string `yaml:"path"`

	// Server is meta.server resolved to an http.service id.
	Server string `yaml:"-"`
}

func (s *HTTPMetrics) Check(c *Checker) {
	s.Server = c.MetaRef("server", KindHTTPService)
	if s.Path == "" {
		s.Path = "/metrics"
	}
	c.URLPath("path", s.Path)
	if strings.ContainsAny(s.Path, "{}") {
		c.Fail("path", "%q: the metrics path cannot have {parameters}", s.Path)
	}
}

// LuaCode is what every Lua entry has: its source file, the modules its
// code may require, and the library.lua entries it imports.
type LuaCode struct {
	Source  string   `yaml:"source"`
	Modules []string `yaml:"modules"`
	// Imports maps a name to a library.lua entry: require(name) returns
	// what that library's code returns. The name must not also be listed
	// under modules.
	Imports map[string]string `yaml:"imports"`

	// File is the source file relative to the app directory, Code its text.
	File string `yaml:"-"`
	Code []byte `yaml:"-"`
}

// importName is what an import may be called: what require takes.
var importName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.\-]*$`)

func (s *LuaCode) check(c *Checker) {
	s.File, s.Code = c.Source("source", s.Source)
	checkNames(c, "modules", s.Modules)
	for _, name := range slices.Sorted(maps.Keys(s.Imports)) {
		field := "imports." + name
		switch {
		case !importName.MatchString(name):
			c.Fail(field, "%q is not an import name: use letters, digits, '_', '.' and '-', starting with a letter", name)
		case slices.Contains(s.Modules, name):
			c.Fail(field, "%s is also listed under modules; require(%q) can give only one of them", name, name)
		default:
			id := s.Imports[name]
			c.Ref(field, &id, KindLibraryLua)
			s.Imports[name] = id
		}
	}
}

// LuaSource is what function.lua and process.lua entries share.
type LuaSource struct {
	LuaCode `yaml:",inline"`
	Method  string `yaml:"method"`
	// MemoryLimit bounds the live data of the Lua state, like "64MiB" (a
	// process) or "32MiB" (one handler call); empty means the runtime's
	// default. Units: B, KiB, MiB, GiB; from 1MiB to 4GiB.
	MemoryLimit string `yaml:"memory_limit"`

	// MaxMemory is MemoryLimit in bytes; 0 when not set.
	MaxMemory int64 `yaml:"-"`
}

func (s *LuaSource) check(c *Checker) {
	s.LuaCode.check(c)
	c.Required("method", s.Method)
	s.MaxMemory = checkBytes(c, "memory_limit", s.MemoryLimit, 1<<20, "1MiB")
}

// LibraryLua is Lua code shared by the entries that import it: its chunk
// returns the value (usually a table of functions) that require gives
// them. It has no method: it is never called on its own.
type LibraryLua struct {
	LuaCode `yaml:",inline"`
}

func (s *LibraryLua) Check(c *Checker) { s.check(c) }

// checkBytes reads the size text given in field (see parseBytes), from
// least (written lowest) to 4GiB; empty is 0.
func checkBytes(c *Checker, field, text string, least int64, lowest string) int64 {
	if text == "" {
		return 0
	}
	n, err := parseBytes(text)
	switch {
	case err != nil:
		c.Fail(field, "%q: %v (write it like 64MiB)", text, err)
	case n < least || n > 4<<30:
		c.Fail(field, "%q: must be from %s to 4GiB", text, lowest)
	default:
		return n
	}
	return 0
}

// parseBytes reads a size like "512KiB", "64MiB", "1GiB" or "1048576B".
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}
	for _, u := range units {
		num, ok := strings.CutSuffix(strings.TrimSpace(s), u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n < 0 || n > (1<<40)/u.mult {
			return 0, errors.New("not a size in bytes")
		}
		return n * u.mult, nil
	}
	return 0, errors.New("no unit (B, KiB, MiB or GiB)")
}

// FunctionLua is a Lua function that serves HTTP requests.
type FunctionLua struct {
	LuaSource `yaml:",inline"`
	// Timeout bounds one call; default 30s.
	Timeout Duration `yaml:"timeout"`
	// Pool is the original runtime's worker pool of a function: checked,
	// no effect (each call here takes a pooled Lua state on the
	// request's own goroutine).
	Pool FunctionPool `yaml:"pool"`
}

// FunctionPool is the pool: field of a function.lua.
type FunctionPool struct {
	Type    string `yaml:"type"` // inline, static, lazy or adaptive
	Workers int    `yaml:"workers"`
	Buffer  int    `yaml:"buffer"`
	MaxSize int    `yaml:"max_size"`
}

var poolTypes = []string{"inline", "static", "lazy", "adaptive"}

func (s *FunctionLua) Check(c *Checker) {
	s.check(c)
	c.Duration("timeout", &s.Timeout, 30*time.Second, time.Millisecond)
	if p := s.Pool; p.Type != "" && !slices.Contains(poolTypes, p.Type) {
		c.Fail("pool.type", "%q is not one of %s%s", p.Type, strings.Join(poolTypes, ", "), suggest.DidYouMean(p.Type, poolTypes))
	}
	for field, v := range map[string]int{"pool.workers": s.Pool.Workers, "pool.buffer": s.Pool.Buffer, "pool.max_size": s.Pool.MaxSize} {
		if v < 0 {
			c.Fail(field, "must not be negative")
		}
	}
}

// ProcessLua is a Lua function that runs as a process.
type ProcessLua struct {
	LuaSource `yaml:",inline"`
}

func (s *ProcessLua) Check(c *Checker) { s.check(c) }

// ProcessHost is a place where processes run.
type ProcessHost struct {
	// MailboxSize bounds each process's mailbox; default 65536.
	MailboxSize int `yaml:"mailbox_size"`
	// MailboxBytes bounds the bytes each process's mailbox holds, like
	// "64MiB" (the default); from 64KiB to 4GiB.
	MailboxBytes string `yaml:"mailbox_bytes"`
	// CancelGrace is how long a cancelled process may take to end; default 5s.
	CancelGrace Duration `yaml:"cancel_grace"`
	// Host takes the sizing fields of apps written for the original
	// runtime: queue_size is the mailbox bound (like mailbox_size);
	// workers and local_queue_size are accepted and have no effect, since
	// every process here runs on a goroutine of its own.
	Host HostSizing `yaml:"host"`
	// Lifecycle: a host with auto_start false is not created, so nothing
	// can be spawned on it.
	Lifecycle StartLifecycle `yaml:"lifecycle"`

	// MaxMailboxBytes is MailboxBytes in bytes; 0 when not set.
	MaxMailboxBytes int64 `yaml:"-"`
}

// HostSizing is process.host's host: mapping.
type HostSizing struct {
	Workers        int `yaml:"workers"`          // accepted, no effect
	QueueSize      int `yaml:"queue_size"`       // the mailbox bound
	LocalQueueSize int `yaml:"local_queue_size"` // accepted, no effect
	// MaxProcesses bounds the processes running on the host at once; 0
	// (not set) is process.DefaultMaxProcesses.
	MaxProcesses int `yaml:"max_processes"`
}

func (s *ProcessHost) Check(c *Checker) {
	s.Lifecycle.check(c, s.Lifecycle.Started())
	for field, v := range map[string]int{"mailbox_size": s.MailboxSize, "host.workers": s.Host.Workers, "host.queue_size": s.Host.QueueSize, "host.local_queue_size": s.Host.LocalQueueSize, "host.max_processes": s.Host.MaxProcesses} {
		if v < 0 {
			c.Fail(field, "must not be negative")
		}
	}
	if s.Host.QueueSize > 0 {
		if s.MailboxSize > 0 && s.MailboxSize != s.Host.QueueSize {
			c.Fail("host.queue_size", "%d disagrees with mailbox_size %d: both bound the mailbox; give one", s.Host.QueueSize, s.MailboxSize)
		}
		s.MailboxSize = s.Host.QueueSize
	}
	if s.MailboxSize == 0 {
		s.MailboxSize = 65536
	}
	s.MaxMailboxBytes = checkBytes(c, "mailbox_bytes", s.MailboxBytes, 64<<10, "64KiB")
	c.Duration("cancel_grace", &s.CancelGrace, 5*time.Second, time.Millisecond)
}

// ProcessService keeps a Lua process running on a host, registered under
// the entry's id, restarting it after failures.
type ProcessService struct {
	Process string `yaml:"process"`
	Host    string `yaml:"host"`
	Args    []any  `yaml:"args"`
	// Input is the original runtime's name for args: a list is the
	// arguments, any other value is the one argument. Give args or input.
	Input     any       `yaml:"input"`
	Lifecycle Lifecycle `yaml:"lifecycle"`
	// Scope is where the service runs: ScopeLocal (default) runs one
	// instance on every node that runs the app, ScopeCluster one instance
	// in the whole cluster.
	Scope string `yaml:"scope"`
}

// The scopes of a process.service.
const (
	ScopeLocal   = "local"
	ScopeCluster = "cluster"
)

var serviceScopes = []string{ScopeLocal, ScopeCluster}

// Lifecycle says whether a service starts with the app and how it restarts.
type Lifecycle struct {
	AutoStart *bool   `yaml:"auto_start"` // default true
	Restart   Restart `yaml:"restart"`
	Ordering  `yaml:",inline"`
}

// Restart is a service's restart policy: after a failure, wait
// InitialDelay, then BackoffFactor times longer after each further failure
// in a row, up to MaxDelay; give up after MaxAttempts failures in a row. A
// run that lasts longer than MaxDelay resets the count.
type Restart struct {
	MaxAttempts   *int     `yaml:"max_attempts"`   // default 5; 0 never restarts
	InitialDelay  Duration `yaml:"initial_delay"`  // default 100ms
	MaxDelay      Duration `yaml:"max_delay"`      // default 30s
	BackoffFactor float64  `yaml:"backoff_factor"` // default 2
	// Jitter spreads each delay by up to ±Jitter of it (0 to 1); default 0.
	Jitter float64 `yaml:"jitter"`
}

func (s *ProcessService) Check(c *Checker) {
	c.Ref("process", &s.Process, KindProcessLua)
	c.Ref("host", &s.Host, KindProcessHost)
	if s.Scope == "" {
		s.Scope = ScopeLocal
	} else if !slices.Contains(serviceScopes, s.Scope) {
		c.Fail("scope", "%q is not one of %s%s", s.Scope, strings.Join(serviceScopes, ", "), suggest.DidYouMean(s.Scope, serviceScopes))
	}
	if s.Lifecycle.AutoStart == nil {
		t := true
		s.Lifecycle.AutoStart = &t
	}
	s.Lifecycle.check(c, *s.Lifecycle.AutoStart)
	if s.Input != nil {
		if s.Args != nil {
			c.Fail("input", "give args or input (its other name), not both")
		} else if list, ok := s.Input.([]any); ok {
			s.Args = list
		} else {
			s.Args = []any{s.Input}
		}
	}
	if h, ok := c.l.app.byID[s.Host]; ok && *s.Lifecycle.AutoStart {
		if hs, ok := h.Spec.(*ProcessHost); ok && !hs.Lifecycle.Started() {
			c.Fail("lifecycle.auto_start", "the service starts with the app but its host %s does not (lifecycle.auto_start: false)", s.Host)
		}
	}
	r := &s.Lifecycle.Restart
	if r.MaxAttempts == nil {
		n := 5
		r.MaxAttempts = &n
	} else if *r.MaxAttempts < 0 {
		c.Fail("lifecycle.restart.max_attempts", "must not be negative")
	}
	c.Duration("lifecycle.restart.initial_delay", &r.InitialDelay, 100*time.Millisecond, time.Millisecond)
	c.Duration("lifecycle.restart.max_delay", &r.MaxDelay, 30*time.Second, time.Millisecond)
	if r.BackoffFactor == 0 {
		r.BackoffFactor = 2
	} else if r.BackoffFactor < 1 {
		c.Fail("lifecycle.restart.backoff_factor", "%v must be at least 1", r.BackoffFactor)
	}
	if r.Jitter < 0 || r.Jitter > 1 {
		c.Fail("lifecycle.restart.jitter", "%v is not a fraction from 0 to 1 (0.1 spreads each delay by up to 10%% either way)", r.Jitter)
	}
	if r.MaxDelay.Value < r.InitialDelay.Value {
		c.Fail("lifecycle.restart.max_delay", "%v is shorter than initial_delay %v", r.MaxDelay.Value, r.InitialDelay.Value)
	}
}
