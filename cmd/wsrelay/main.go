// Command wsrelay serves an app directory of YAML entries and Lua files.
//
//	wsrelay run [flags] [DIR]    serve the app until SIGINT or SIGTERM
//	wsrelay check [DIR]          validate the app and print every problem
//	wsrelay version              print the version and VCS stamp
//	wsrelay bench MODE [flags]   measure a running app (loopback only)
//	wsrelay baseline             serve the bare echo server bench compares against
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/loadtool"
	"github.com/wsrelay/wsrelay/internal/pprofserve"
	"github.com/wsrelay/wsrelay/internal/ratelog"
	"github.com/wsrelay/wsrelay/luart"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `wsrelay serves real-time apps: Lua processes, YAML routes, WebSocket relay.

Usage:
  wsrelay run [flags] [DIR]   serve the app in DIR (default .) until SIGINT or SIGTERM
  wsrelay check [DIR]         validate the app in DIR and print every problem (exit 1 on any)
  wsrelay version             print the version and what it was built from
  wsrelay bench MODE [flags]  measure a running app (echo, rtt, idle, fanout, connect)
  wsrelay baseline            serve the bare echo server that bench compares against

DIR is the app directory: the one with the top _index.yaml (every
_index.yaml below it is read too, except under testdata and dot
directories). Run 'wsrelay run -h' for the flags of run.
`

// run is main with its inputs and outputs passed in, for tests.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:], stdout, stderr)
	case "check":
		return cmdCheck(args[1:], stdout, stderr)
	case "bench":
		return loadtool.Bench(ctx, args[1:], stdout, stderr)
	case "baseline":
		return loadtool.Baseline(ctx, args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "wsrelay", version())
		return 0
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "wsrelay: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// version describes the build: the module version, the Go release, and
// the VCS stamp `go build` records (revision, commit time, uncommitted
// changes). `go run` and tests record no VCS stamp.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel (built without module information)"
	}
	return describeBuild(bi)
}

func describeBuild(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	parts := []string{v}
	if bi.Main.Path != "" {
		parts = append(parts, bi.Main.Path)
	}
	parts = append(parts, bi.GoVersion)
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision", "vcs.time", "vcs.modified":
			parts = append(parts, strings.TrimPrefix(s.Key, "vcs.")+"="+s.Value)
		}
	}
	return strings.Join(parts, " ")
}

func appDir(fs *flag.FlagSet) (string, error) {
	switch fs.NArg() {
	case 0:
		return ".", nil
	case 1:
		return fs.Arg(0), nil
	}
	return "", fmt.Errorf("expected one app directory, got %d arguments", fs.NArg())
}

func cmdCheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: wsrelay check [DIR]\n\nValidate the app in DIR (default .) and print every problem; exit 1 on any.\n")
	}
	if err := fs.Parse(args); err != nil {
		return exitParse(err)
	}
	dir, err := appDir(fs)
	if err != nil {
		fmt.Fprintln(stderr, "wsrelay check:", err)
		return 2
	}
	app, cfg, err := load(dir, gateway.Options{Logger: slog.New(slog.DiscardHandler), NodeName: "local"}, nil)
	if err != nil {
		printProblems(stderr, dir, err)
		return 1
	}
	app.Shutdown(context.Background()) // built, never started: releases nothing but pooled states
	for _, n := range methodNotes(cfg) {
		fmt.Fprintln(stdout, "note: "+n)
	}
	for _, w := range app.Warnings() {
		fmt.Fprintf(stdout, "warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "%s: ok\n", dir)
	return 0
}

// methodNotes lists the Lua entries whose method could not be checked
// without running them.
func methodNotes(cfg *config.App) []string {
	var notes []string
	libs := map[string]*luart.Program{} // entries come in dependency order: libraries first
	for _, e := range cfg.Entries {
		var src *config.LuaCode
		method, kind := "", luart.KindProcess
		switch s := e.Spec.(type) {
		case *config.FunctionLua:
			src, method, kind = &s.LuaCode, s.Method, luart.KindFunction
		case *config.ProcessLua:
			src, method = &s.LuaCode, s.Method
		case *config.LibraryLua:
			src, kind = &s.LuaCode, luart.KindLibrary
		default:
			continue
		}
		imports := map[string]*luart.Program{}
		for name, id := range src.Imports {
			imports[name] = libs[id]
		}
		p, err := luart.Compile(luart.Source{ID: e.ID, File: src.File, Code: src.Code, Method: method, Modules: src.Modules, Imports: imports, Kind: kind})
		switch {
		case err != nil:
		case kind == luart.KindLibrary:
			libs[e.ID] = p
		case p.MethodNote() != "":
			notes = append(notes, fmt.Sprintf("%s: entry %s: method: %s", src.File, e.ID, p.MethodNote()))
		}
	}
	return notes
}

// exitParse is the exit code after a flag parsing error: 0 for -h.
func exitParse(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	return 2
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	level := fs.String("log-level", "info", "least level logged: debug, info, warn or error")
	format := fs.String("log-format", "text", "log format: text or json")
	shutdown := fs.Duration("shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take before the rest is cut off")
	node := fs.String("node", "local", "node name, the node part of every PID")
	pprofAddr := fs.String("pprof", "", "also serve Go's profiler at this loopback address (e.g. 127.0.0.1:6060)")
	luaLines := fs.String("lua-log-lines", strconv.Itoa(luart.DefaultLogLines), "most lines a second each Lua entry's logger and print may write, or unlimited")
	observeAddr := fs.String("observe", "", "serve the live observer at this address (e.g. 127.0.0.1:9100); an address that is not loopback needs --observe-token-file")
	observeToken := fs.String("observe-token-file", "", "file holding the token the observer requires of every request")
	observeActions := fs.Bool("observe-actions", false, "let the observer's pages cancel and kill processes, close connections and send messages (each action is logged)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: wsrelay run [flags] [DIR]\n\nServe the app in DIR (default .) until SIGINT or SIGTERM; a second signal exits at once.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	clusterFl := addClusterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return exitParse(err)
	}
	dir, err := appDir(fs)
	if err != nil {
		fmt.Fprintln(stderr, "wsrelay run:", err)
		return 2
	}
	log, err := newLogger(stderr, *level, *format)
	if err != nil {
		fmt.Fprintln(stderr, "wsrelay run:", err)
		return 2
	}
	if *shutdown <= 0 {
		fmt.Fprintln(stderr, "wsrelay run: --shutdown-timeout must be positive")
		return 2
	}
	lines, err := parseLogLines(*luaLines)
	if err != nil {
		fmt.Fprintln(stderr, "wsrelay run:", err)
		return 2
	}
	obs, err := observeFlags(*observeAddr, *observeToken, *observeActions)
	if err != nil {
		fmt.Fprintln(stderr, "wsrelay run:", err)
		return 2
	}
	if *pprofAddr != "" {
		bound, stopPprof, err := pprofserve.Start(*pprofAddr)
		if err != nil {
			fmt.Fprintln(stderr, "wsrelay run:", err)
			return 2
		}
		defer stopPprof()
		log.Info("profiler listening", "url", "http://"+bound+"/debug/pprof/")
	}
	// Cluster (docs/cluster.md): only when --cluster or --nats-listen is given.
	cn, err := clusterFl.connect(fs, node, log)
	if err != nil {
		fmt.Fprintln(stderr, "wsrelay run:", err)
		return 2
	}
	defer cn.close()
	app, cfg, err := load(dir, gateway.Options{Logger: log, NodeName: *node, LuaLogLines: lines}, cn)
	if err != nil {
		printProblems(stderr, dir, err)
		return 1
	}
	if obs.Addr == "" { // the flags win over the app's observer entry
		if obs, err = observeEntry(cfg); err != nil {
			app.Shutdown(context.Background()) // built, never started
			fmt.Fprintln(stderr, "wsrelay run:", err)
			return 1
		}
	}
	// Signals stay caught until run returns: a second one ends the
	// shutdown at once. (signal.NotifyContext's stop would instead restore
	// the disposition the command started with, which is "ignore" for
	// SIGINT under nohup and in background jobs of scripts.)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	// Joining may wait for the other nodes' NATS servers: a signal ends
	// the wait.
	jctx, jcancel := context.WithCancel(ctx)
	joined, stopped, watched := make(chan struct{}), make(chan os.Signal, 1), make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case sig := <-sigs:
			stopped <- sig
			jcancel()
		case <-joined:
		}
	}()
	err = cn.join(jctx, app.Node(), log)
	close(joined)
	<-watched
	jcancel()
	select {
	case sig := <-stopped:
		log.Info("signal received while joining the cluster", "signal", sig.String())
		app.Shutdown(context.Background()) // built, never started
		log.Info("stopped")
		return 0
	default:
	}
	if err != nil {
		log.Error("cannot join the cluster", "error", err)
		return 1
	}
	if err := app.Start(); err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	log.Info("started", "app", dir, "node", *node)
	stopAnswering, err := answerObservers(cn, app, obs.Addr != "" && obs.Actions, log)
	if err != nil {
		log.Error("cannot answer other nodes' observers", "error", err)
		app.Shutdown(context.Background())
		return 1
	}
	defer stopAnswering()
	stopObserver := func() {}
	if obs.Addr != "" {
		if stopObserver, err = startObserver(obs, app, cn, log); err != nil {
			log.Error("cannot start the observer", "error", err)
			app.Shutdown(context.Background())
			return 1
		}
	}
	select {
	case <-ctx.Done():
	case sig := <-sigs:
		log.Info("signal received", "signal", sig.String())
	}
	log.Info("shutting down", "timeout", shutdown.String(), "force", "send the signal again to exit at once")
	stopObserver() // its pages are closed before the app's connections
	sctx, cancel := context.WithTimeout(context.Background(), *shutdown)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- app.Shutdown(sctx) }()
	select {
	case err := <-done:
		if err != nil {
			log.Warn("shutdown was not clean", "error", err)
			return 1
		}
	case sig := <-sigs:
		// main exits on return, ending the shutdown goroutine with it.
		log.Error("second signal: exiting without finishing the shutdown", "signal", sig.String())
		return 1
	}
	log.Info("stopped")
	return 0
}

// load reads and builds the app in dir with opts (their Middleware are
// set here). When the configuration has problems, the Lua sources it could
// read are compiled too, so that every problem is reported at once.
func load(dir string, opts gateway.Options, cn *clusterNode) (*gateway.App, *config.App, error) {
	cfg, probs := config.DiagnoseDir(dir, config.StandardKinds())
	if len(probs) > 0 {
		if cfg != nil {
			probs = append(probs, gateway.CheckLua(cfg)...)
			probs = append(probs, gateway.CheckMiddleware(cfg, middleware())...)
		}
		return nil, nil, probs.Err()
	}
	opts.Middleware = middleware()
	cn.wire(&opts)
	app, err := gateway.Build(cfg, opts)
	return app, cfg, err
}

// middleware lists what routers may use.
func middleware() []*gateway.Middleware {
	return []*gateway.Middleware{gateway.CORS(), gateway.Relay()}
}

func printProblems(w io.Writer, dir string, err error) {
	var es config.Errors
	if errors.As(err, &es) {
		fmt.Fprintf(w, "%s: %d problem(s):\n", dir, len(es))
		for _, p := range es {
			fmt.Fprintln(w, "  "+p.Error())
		}
		return
	}
	fmt.Fprintf(w, "%s: %v\n", dir, err)
}

// parseLogLines reads --lua-log-lines: a whole number of lines a second,
// at least 1, or "unlimited".
func parseLogLines(s string) (int, error) {
	if s == "unlimited" {
		return ratelog.NoLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("--lua-log-lines %q: use a whole number of lines a second of at least 1, or unlimited", s)
	}
	return n, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}
