package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/wsrelay/wsrelay/internal/loadgen"
)

const benchUsage = `Usage: wsrelay bench MODE [flags]

Modes:
  echo      connections pipeline messages and read the echoes (messages/s)
  rtt       one connection, one message at a time (round-trip percentiles)
  idle      hold connections and report the server's memory per connection
  fanout    connections in a room get broadcasts (delivery percentiles)
  connect   connection setups per second (upgrade, handler, spawn)

Targets are loopback only. Serve examples/bench (wsrelay run examples/bench)
and the baseline (wsrelay baseline) first.
`

func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, benchUsage)
		return 2
	}
	mode := args[0]
	run, ok := map[string]func(context.Context, loadgen.Options) (loadgen.Result, error){
		"echo": loadgen.Echo, "rtt": loadgen.RTT, "idle": loadgen.Idle, "fanout": loadgen.Fanout, "connect": loadgen.Connect,
	}[mode]
	if !ok {
		fmt.Fprintf(stderr, "wsrelay bench: unknown mode %q\n\n%s", mode, benchUsage)
		return 2
	}
	fs := flag.NewFlagSet("bench "+mode, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o loadgen.Options
	fs.StringVar(&o.URL, "url", "ws://127.0.0.1:8090/ws/shared", "WebSocket URL to measure (loopback only)")
	baseline := fs.String("baseline", "", "also measure this URL (e.g. ws://127.0.0.1:8091/bare) and report ratios")
	fs.IntVar(&o.Conns, "conns", 0, "connections (echo 50, idle 1000, fanout 1000)")
	fs.IntVar(&o.Messages, "messages", 0, "messages per connection (echo 2000), in all (rtt 5000), broadcasts (fanout 5), setups (connect 5000)")
	fs.IntVar(&o.Size, "size", 0, "message size in bytes (default 64; fanout 16)")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "connect: setups at once (default 16)")
	fs.StringVar(&o.MetricsURL, "metrics", "", "idle: the server's metrics URL, to read its memory")
	fs.IntVar(&o.ServerPID, "pid", 0, "idle: the server's PID, to read its memory")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "bound on each run")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	plot := fs.String("plot", "", "write the latency distribution to this SVG file")
	quiet := fs.Bool("quiet", false, "no progress bar")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if !*quiet {
		o.Progress = stderr
	}
	targets := []string{o.URL}
	if *baseline != "" {
		targets = append(targets, *baseline)
	}
	var results []loadgen.Result
	for _, u := range targets {
		ro := o
		ro.URL = u
		r, err := run(ctx, ro)
		if err != nil {
			fmt.Fprintf(stderr, "wsrelay bench %s %s: %v\n", mode, u, err)
			return 1
		}
		results = append(results, r)
	}
	if *plot != "" {
		f, err := os.Create(*plot)
		if err == nil {
			err = loadgen.PlotSVG(f, "wsrelay bench "+mode, results)
			f.Close()
		}
		if err != nil {
			fmt.Fprintln(stderr, "wsrelay bench:", err)
			return 1
		}
	}
	if *asJSON {
		out := map[string]any{"results": results}
		if len(results) == 2 {
			out["ratio"] = ratios(results[0], results[1])
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\ttarget\tconns\tmessages\tsize\trate/s\tp50\tp90\tp99\tmax\tmem/conn\t")
	for _, r := range results {
		mem := "-"
		if r.MemPerConn != 0 {
			mem = fmt.Sprintf("%.1f KB", r.MemPerConn/1024)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%.0f\t%v\t%v\t%v\t%v\t%s\t\n", r.Mode, r.URL, r.Conns, r.Messages, r.Size, r.Rate, r.P50, r.P90, r.P99, r.Max, mem)
	}
	if len(results) == 2 {
		q := ratios(results[0], results[1])
		fmt.Fprintf(tw, "ratio\tto the baseline\t\t\t\t%.2f\t%.2f\t\t%.2f\t\t\t\n", q["rate"], q["p50"], q["p99"])
	}
	tw.Flush()
	return 0
}

// ratios of a result to the baseline's, measured in the same run.
func ratios(r, base loadgen.Result) map[string]float64 {
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	return map[string]float64{
		"rate": div(r.Rate, base.Rate),
		"p50":  div(float64(r.P50), float64(base.P50)),
		"p99":  div(float64(r.P99), float64(base.P99)),
	}
}
