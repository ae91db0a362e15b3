package loadtool

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"slices"
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

echo --client gws runs the same echo with a minimal client on the gws
library, to check that the load tool is not what limits a figure (see
docs/bench.md); --baseline-client picks the baseline's client.

Targets are loopback only. Serve examples/bench (wsrelay run examples/bench)
and the baseline (wsrelay baseline) first.
`

// Bench is `wsrelay bench MODE [flags]`: args are what follows "bench".
// It returns the command's exit code: 0, 1 when a run failed, 2 for a
// usage error.
func Bench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
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
	fs.StringVar(&o.URL, "url", "ws://127.0.0.1:8090/ws/shared", "WebSocket URL to measure (loopback only); several, comma-separated: echo, idle and fanout spread the connections over them in turn (one app on several nodes; fanout's first connection, on the first URL, sends)")
	baseline := fs.String("baseline", "", "also measure this URL (e.g. ws://127.0.0.1:8091/bare) and report ratios")
	fs.IntVar(&o.Conns, "conns", 0, "connections (echo 50, idle 1000, fanout 1000)")
	fs.IntVar(&o.Messages, "messages", 0, "messages per connection (echo 2000), in all (rtt 5000), broadcasts (fanout 5), setups (connect 5000)")
	fs.IntVar(&o.Size, "size", 0, "message size in bytes (default 64; fanout 16)")
	fs.IntVar(&o.Concurrency, "concurrency", 0, "connect: setups at once (default 16)")
	fs.IntVar(&o.Batch, "batch", 0, "echo: frames per write system call (default 1)")
	client := fs.String("client", "tool", "echo: the client measuring --url: tool (this load tool) or gws (a minimal client on the gws library, to show what the tool costs)")
	baseClient := fs.String("baseline-client", "", "echo: the client measuring --baseline (default: the same as --client)")
	fs.StringVar(&o.MetricsURL, "metrics", "", "idle: the server's metrics URL, to read its memory; fanout: every node's metrics URL, comma-separated, to count the NATS messages and bytes of a broadcast")
	fs.IntVar(&o.ServerPID, "pid", 0, "idle: the server's PID, to read its memory")
	fs.DurationVar(&o.Timeout, "timeout", 5*time.Minute, "bound on each run")
	fs.DurationVar(&o.Hold, "hold", 0, "idle: keep the connections open this long after measuring, to measure something else meanwhile (bounded by --timeout)")
	asJSON := fs.Bool("json", false, "print the results as JSON")
	plot := fs.String("plot", "", "write the latency distribution to this SVG file")
	quiet := fs.Bool("quiet", false, "no progress bar")
	runs := fs.Int("runs", 1, "measure this many times, alternating with the baseline, and report the medians")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the load tool itself to this file")
	observePage := fs.String("observe-page", "", "keep an observer page open during each run of --url (not of --baseline): the observer's live URL, ws://HOST:PORT/live[?token=...]")
	observeView := fs.String("observe-view", "processes", "the view that page shows: overview, processes, crashes, groups or names")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "wsrelay bench: --cpuprofile:", err)
			return 1
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	if *runs < 1 || *runs > 100 {
		fmt.Fprintf(stderr, "wsrelay bench: --runs %d: use 1 to 100\n", *runs)
		return 2
	}
	if !*quiet {
		o.Progress = stderr
	}
	if *baseClient == "" {
		*baseClient = *client
	}
	runners := map[string]func(context.Context, loadgen.Options) (loadgen.Result, error){"tool": run}
	if mode == "echo" {
		runners["gws"] = loadgen.EchoMinimal
	}
	type target struct {
		url string
		run func(context.Context, loadgen.Options) (loadgen.Result, error)
	}
	var targets []target
	for _, t := range [][2]string{{o.URL, *client}, {*baseline, *baseClient}} {
		if t[0] == "" {
			continue
		}
		r, ok := runners[t[1]]
		if !ok {
			fmt.Fprintf(stderr, "wsrelay bench %s: unknown client %q (tool; gws for echo only)\n", mode, t[1])
			return 2
		}
		targets = append(targets, target{t[0], r})
	}
	// all[i][j] is run i of target j: the target and its baseline
	// alternate, so that each pair is measured under the same conditions,
	// and every other pair runs the baseline first, so that what the
	// first run of a pair meets (the garbage of the run before it, a
	// cold cache) weighs on both sides alike.
	all := make([][]loadgen.Result, *runs)
	for i := range all {
		all[i] = make([]loadgen.Result, len(targets))
		for k := range targets {
			j := k
			if i%2 == 1 {
				j = len(targets) - 1 - k
			}
			t := targets[j]
			ro := o
			ro.URL = t.url
			var page *loadgen.ObserverPage
			if *observePage != "" && j == 0 {
				var err error
				if page, err = loadgen.OpenObserverPage(*observePage, *observeView); err != nil {
					fmt.Fprintf(stderr, "wsrelay bench %s: --observe-page: %v\n", mode, err)
					return 1
				}
			}
			r, err := t.run(ctx, ro)
			if page != nil {
				r.ObserverUpdates = page.Close()
			}
			if err != nil {
				fmt.Fprintf(stderr, "wsrelay bench %s %s: %v\n", mode, t.url, err)
				return 1
			}
			all[i][j] = r
		}
	}
	results := medianRuns(mode, all)
	var q, lo, hi map[string]float64
	if len(targets) == 2 {
		q, lo, hi = pairRatios(all)
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
		if *runs > 1 {
			out["runs"] = all
		}
		if q != nil {
			out["ratio"] = q
			out["ratio_min"], out["ratio_max"] = lo, hi
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(out)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tclient\ttarget\tconns\tmessages\tsize\trate/s\tp50\tp90\tp99\tmax\tmem/conn\ttool cpu/msg\t")
	for _, r := range results {
		mem := "-"
		if r.MemPerConn != 0 {
			mem = fmt.Sprintf("%.1f KB", r.MemPerConn/1024)
		}
		cl := r.Client
		if cl == "" {
			cl = "tool"
		}
		toolCPU := "-"
		if r.ToolCPU > 0 && r.Conns*r.Messages > 0 {
			toolCPU = fmt.Sprintf("%.2f µs", float64(r.ToolCPU.Microseconds())/float64(r.Conns*r.Messages))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Mode, cl, r.URL, r.Conns, r.Messages, r.Size, r.Rate, dur(r.P50), dur(r.P90), dur(r.P99), dur(r.Max), mem, toolCPU)
	}
	for _, r := range results {
		if r.ObserverUpdates > 0 {
			fmt.Fprintf(tw, "observer\t\t%s: a page open, %d updates in the run\t\t\t\t\t\t\t\t\t\t\t\n", r.URL, r.ObserverUpdates)
		}
		if r.Mode == "fanout" && (r.ClusterMessages != 0 || r.ClusterBytes != 0) {
			fmt.Fprintf(tw, "cluster\t\t%s: %.1f NATS messages, %.0f bytes a broadcast\t\t\t\t\t\t\t\t\t\t\t\n", r.URL, r.ClusterMessages, r.ClusterBytes)
		}
	}
	if q != nil {
		what := "to the baseline"
		if *runs > 1 {
			what = fmt.Sprintf("median of %d pairs", *runs)
		}
		fmt.Fprintf(tw, "ratio\t\t%s\t\t\t\t%s\t%s\t\t%s\t\t\t\t\n", what, ratio(q["rate"]), ratio(q["p50"]), ratio(q["p99"]))
		if *runs > 1 {
			span := func(k string) string {
				if hi[k] == 0 {
					return "-"
				}
				return ratio(lo[k]) + "–" + ratio(hi[k])
			}
			fmt.Fprintf(tw, "\t\tlowest–highest\t\t\t\t%s\t%s\t\t%s\t\t\t\t\n", span("rate"), span("p50"), span("p99"))
		}
	}
	tw.Flush()
	return 0
}

// dur prints a latency, or "-" for a mode that measures none.
func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.String()
}

func ratio(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", x)
}

// medianRuns picks, for each target, its median run by the figure the
// mode is about: the rate for echo and connect, p50 for rtt, p99 for
// fanout, memory for idle.
func medianRuns(mode string, all [][]loadgen.Result) []loadgen.Result {
	key := func(r loadgen.Result) float64 {
		switch mode {
		case "rtt":
			return float64(r.P50)
		case "fanout":
			return float64(r.P99)
		case "idle":
			return r.MemPerConn
		}
		return r.Rate
	}
	out := make([]loadgen.Result, len(all[0]))
	for j := range out {
		col := make([]loadgen.Result, len(all))
		for i := range all {
			col[i] = all[i][j]
		}
		slices.SortFunc(col, func(a, b loadgen.Result) int { return cmp.Compare(key(a), key(b)) })
		out[j] = col[len(col)/2]
	}
	return out
}

// pairRatios returns, for each figure, the median, lowest and highest
// ratio of a run to the baseline's run next to it.
func pairRatios(all [][]loadgen.Result) (median, lowest, highest map[string]float64) {
	median, lowest, highest = map[string]float64{}, map[string]float64{}, map[string]float64{}
	per := map[string][]float64{}
	for _, pair := range all {
		for k, v := range ratios(pair[0], pair[1]) {
			per[k] = append(per[k], v)
		}
	}
	for k, vs := range per {
		slices.Sort(vs)
		median[k], lowest[k], highest[k] = vs[len(vs)/2], vs[0], vs[len(vs)-1]
	}
	return median, lowest, highest
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
