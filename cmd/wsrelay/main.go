// Command wsrelay serves an app directory of YAML entries and Lua files.
//
//	wsrelay run [flags] [DIR]    serve the app until SIGINT or SIGTERM
//	wsrelay check [DIR]          validate the app and print every problem
//	wsrelay version              print the version
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
	"syscall"
	"time"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/gateway"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `wsrelay serves real-time apps: Lua processes, YAML routes, WebSocket relay.

Usage:
  wsrelay run [flags] [DIR]   serve the app in DIR (default .) until SIGINT or SIGTERM
  wsrelay check [DIR]         validate the app in DIR and print every problem (exit 1 on any)
  wsrelay version             print the version
  wsrelay bench MODE [flags]  measure a running app (echo, rtt, idle, fanout, connect)
  wsrelay baseline            serve the bare echo server that bench compares against

Run 'wsrelay run -h' for the flags of run.
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
		return cmdBench(ctx, args[1:], stdout, stderr)
	case "baseline":
		return cmdBaseline(ctx, args[1:], stdout, stderr)
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

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
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
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dir, err := appDir(fs)
	if err != nil {
		fmt.Fprintln(stderr, "wsrelay check:", err)
		return 2
	}
	app, err := load(dir, slog.New(slog.DiscardHandler), "local", nil)
	if err != nil {
		printProblems(stderr, dir, err)
		return 1
	}
	app.Shutdown(context.Background()) // built, never started: releases nothing but pooled states
	fmt.Fprintf(stdout, "%s: ok\n", dir)
	return 0
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	level := fs.String("log-level", "info", "least level logged: debug, info, warn or error")
	format := fs.String("log-format", "text", "log format: text or json")
	shutdown := fs.Duration("shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take before the rest is cut off")
	node := fs.String("node", "local", "node name, the node part of every PID")
	pprofAddr := fs.String("pprof", "", "also serve Go's profiler at this loopback address (e.g. 127.0.0.1:6060)")
	clusterFl := addClusterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
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
	if *pprofAddr != "" {
		bound, stopPprof, err := startPprof(*pprofAddr)
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
	app, err := load(dir, log, *node, cn)
	if err != nil {
		printProblems(stderr, dir, err)
		return 1
	}
	if err := cn.join(ctx, app.Node(), log); err != nil {
		log.Error("cannot join the cluster", "error", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := app.Start(); err != nil {
		log.Error("cannot start", "error", err)
		return 1
	}
	log.Info("started", "app", dir, "node", *node)
	<-ctx.Done()
	stop() // a second signal kills the process at once
	log.Info("shutting down", "timeout", shutdown.String())
	sctx, cancel := context.WithTimeout(context.Background(), *shutdown)
	defer cancel()
	if err := app.Shutdown(sctx); err != nil {
		log.Warn("shutdown was not clean", "error", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// load reads and builds the app in dir. When the configuration has
// problems, the Lua sources it could read are compiled too, so that every
// problem is reported at once.
func load(dir string, log *slog.Logger, node string, cn *clusterNode) (*gateway.App, error) {
	cfg, probs := config.DiagnoseDir(dir, config.StandardKinds())
	if len(probs) > 0 {
		if cfg != nil {
			probs = append(probs, gateway.CheckLua(cfg)...)
		}
		return nil, probs.Err()
	}
	opts := gateway.Options{Logger: log, NodeName: node, Middleware: middleware()}
	cn.wire(&opts)
	return gateway.Build(cfg, opts)
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
