package loadtool

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/loadgen"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

// TestBenchModes runs every mode of the load tool, small, against the
// bench app and the baseline, and checks what it reports.
func TestBenchModes(t *testing.T) {
	app, _ := apptest.Start(t, "../../examples/bench")
	addr := apptest.Addr(t, app, "bench:gateway")
	srv, stop, err := baselineServer()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		stop(context.Background())
	})
	base := "ws://" + ln.Addr().String()
	plot := filepath.Join(t.TempDir(), "rtt.svg")
	for _, tc := range []struct {
		args  []string
		check func(r loadgen.Result) bool
	}{
		{[]string{"echo", "--url", "ws://" + addr + "/ws/lua", "--conns", "4", "--messages", "200", "--baseline", base + "/bare"}, func(r loadgen.Result) bool { return r.Rate > 0 && r.Conns == 4 }},
		{[]string{"echo", "--url", "ws://" + addr + "/ws/shared", "--conns", "4", "--messages", "200", "--batch", "8"}, func(r loadgen.Result) bool { return r.Rate > 0 && r.Client == "" }},
		// the minimal gws client against the load tool, on the same server
		{[]string{"echo", "--url", base + "/bare", "--client", "gws", "--baseline", base + "/bare", "--baseline-client", "tool", "--conns", "4", "--messages", "200"}, func(r loadgen.Result) bool { return r.Rate > 0 && r.Client == "gws" }},
		{[]string{"echo", "--url", base + "/go", "--conns", "4", "--messages", "200", "--baseline", base + "/bare", "--runs", "3"}, func(r loadgen.Result) bool { return r.Rate > 0 }},
		{[]string{"echo", "--url", base + "/gobwas", "--conns", "4", "--messages", "200", "--size", "5000", "--baseline", base + "/bare"}, func(r loadgen.Result) bool { return r.Rate > 0 }},
		{[]string{"rtt", "--url", "ws://" + addr + "/ws/lua", "--messages", "100", "--baseline", base + "/bare", "--plot", plot}, func(r loadgen.Result) bool { return r.P50 > 0 && r.P50 <= r.P99 && r.P99 <= r.Max }},
		{[]string{"fanout", "--url", "ws://" + addr + "/ws/room", "--conns", "20", "--messages", "3", "--baseline", base + "/bare-room"}, func(r loadgen.Result) bool { return r.P50 > 0 && len(r.Latencies) == 0 && r.Messages == 3 }},
		{[]string{"fanout", "--url", "ws://" + addr + "/ws/pgroom", "--conns", "20", "--messages", "3"}, func(r loadgen.Result) bool { return r.P50 > 0 && r.Messages == 3 && r.ClusterMessages == 0 }},
		{[]string{"connect", "--url", "ws://" + addr + "/ws/lua", "--messages", "50", "--concurrency", "4"}, func(r loadgen.Result) bool { return r.Messages == 50 && r.Rate > 0 }},
		{[]string{"idle", "--url", "ws://" + addr + "/ws/shared", "--conns", "50", "--pid", strconv.Itoa(os.Getpid()), "--hold", "20ms"}, func(r loadgen.Result) bool { return r.Conns == 50 }},
	} {
		t.Run(strings.Join(tc.args[:1], ""), func(t *testing.T) {
			var out, errOut bytes.Buffer
			args := append(tc.args, "--json", "--quiet")
			if code := Bench(context.Background(), args, &out, &errOut); code != 0 {
				t.Fatalf("wsrelay bench %v: exit %d: %s", tc.args, code, errOut.String())
			}
			var got struct {
				Results  []loadgen.Result   `json:"results"`
				Runs     [][]loadgen.Result `json:"runs"`
				Ratio    map[string]float64 `json:"ratio"`
				RatioMin map[string]float64 `json:"ratio_min"`
				RatioMax map[string]float64 `json:"ratio_max"`
			}
			if err := json.Unmarshal(out.Bytes(), &got); err != nil {
				t.Fatalf("%v: %s", err, out.String())
			}
			if len(got.Results) == 0 || !tc.check(got.Results[0]) {
				t.Errorf("wsrelay bench %v: %+v", tc.args, got.Results)
			}
			if strings.Contains(strings.Join(tc.args, " "), "--baseline") && (len(got.Results) != 2 || got.Ratio["rate"] <= 0) {
				t.Errorf("no ratio to the baseline: %s", out.String())
			}
			// --runs N: N pairs, and the reported ratio is their median.
			if slices.Contains(tc.args, "--runs") {
				if len(got.Runs) != 3 || len(got.Runs[0]) != 2 {
					t.Errorf("--runs 3: %d runs", len(got.Runs))
				}
				if lo, q, hi := got.RatioMin["rate"], got.Ratio["rate"], got.RatioMax["rate"]; !(lo > 0 && lo <= q && q <= hi) {
					t.Errorf("--runs 3: rate ratios %v ≤ %v ≤ %v", lo, q, hi)
				}
			}
		})
	}
	// --cpuprofile profiles the load tool itself.
	prof := filepath.Join(t.TempDir(), "cpu.prof")
	if code := Bench(context.Background(), []string{"echo", "--url", base + "/bare", "--conns", "2", "--messages", "20", "--quiet", "--cpuprofile", prof}, io.Discard, io.Discard); code != 0 {
		t.Errorf("--cpuprofile: exit %d", code)
	} else if fi, err := os.Stat(prof); err != nil || fi.Size() == 0 {
		t.Errorf("--cpuprofile wrote no profile: %v", err)
	}
	svg, err := os.ReadFile(plot)
	if err != nil || !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("p99")) {
		t.Errorf("the plot: %v %.200s", err, svg)
	}
	// The table form.
	var out bytes.Buffer
	if code := Bench(context.Background(), []string{"rtt", "--url", base + "/bare", "--messages", "20", "--quiet"}, &out, &out); code != 0 || !strings.Contains(out.String(), "p99") {
		t.Errorf("table: %d %s", code, out.String())
	}
}

func TestBenchClientFlag(t *testing.T) {
	for _, args := range [][]string{
		{"echo", "--client", "gorilla"},
		{"echo", "--baseline", "ws://127.0.0.1:1/bare", "--baseline-client", "nope"},
		{"rtt", "--client", "gws"}, // the minimal client does echo only
	} {
		var out bytes.Buffer
		if code := Bench(context.Background(), args, &out, &out); code != 2 || !strings.Contains(out.String(), "unknown client") {
			t.Errorf("%v: exit %d %s", args, code, out.String())
		}
	}
}

func TestBenchRefusesOtherHosts(t *testing.T) {
	for _, u := range []string{"ws://10.0.0.1:80/x", "ws://example.com/x", "ws://192.168.1.1/x"} {
		var out bytes.Buffer
		if code := Bench(context.Background(), []string{"echo", "--url", u, "--quiet"}, &out, &out); code != 1 || !strings.Contains(out.String(), "only targets loopback") {
			t.Errorf("%s: exit %d %s", u, code, out.String())
		}
	}
}

// TestIdleHold: bench idle --hold keeps its connections open after it
// has measured (so that something else can be measured meanwhile) and
// closes them when the hold ends early, still reporting its result.
func TestIdleHold(t *testing.T) {
	app, _ := apptest.Start(t, "../../examples/bench")
	addr := apptest.Addr(t, app, "bench:gateway")
	const conns = 30
	base := app.Node().Stats().Processes
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out bytes.Buffer
	progress := &lockedBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- Bench(ctx, []string{"idle", "--url", "ws://" + addr + "/ws/shared", "--conns", strconv.Itoa(conns),
			"--pid", strconv.Itoa(os.Getpid()), "--hold", "1h", "--json"}, &out, progress)
	}()
	poll.Until(t, proctest.Timeout, "the connections held after the measurement", func() bool {
		return strings.Contains(progress.String(), "holding "+strconv.Itoa(conns)+" connections")
	})
	// Every connection is a process of the server while it is held.
	if n := app.Node().Stats().Processes - base; n < conns {
		t.Fatalf("%d connection processes while held, want %d", n, conns)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, progress.String())
	}
	var got struct {
		Results []loadgen.Result `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil || len(got.Results) != 1 || got.Results[0].Conns != conns {
		t.Fatalf("result %v %s", err, out.String())
	}
	poll.Until(t, proctest.Timeout, "the held connections closed", func() bool {
		return app.Node().Stats().Processes-base < conns
	})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
