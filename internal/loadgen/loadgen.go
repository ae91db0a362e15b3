// Package loadgen is the client side of `wsrelay bench`: it opens
// WebSocket connections to a loopback server and measures throughput,
// latency, memory per connection and connection setup. Every run is
// bounded by its counts and by Options.Timeout.
package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsrelay/wsrelay/internal/wsclient"
)

// Options of a run. Zero values get the defaults of each mode.
type Options struct {
	URL         string        // ws://127.0.0.1:port/path; only loopback hosts. Several, comma-separated: echo, idle and fanout spread their connections over them in turn (the clients of one app on several nodes); rtt and connect use the first
	Conns       int           // connections (echo, idle, fanout)
	Messages    int           // messages per connection (echo), in all (rtt), rounds (fanout), setups (connect)
	Size        int           // message size in bytes
	Concurrency int           // connect: setups at once
	Batch       int           // echo: frames per write system call; default 1 (one write per message, as a browser does)
	MetricsURL  string        // idle: the server's /metrics, for its resident memory; fanout: every node's /metrics, comma-separated, to count the cluster messages of a broadcast
	ServerPID   int           // idle: the server's PID, for its resident memory (instead of MetricsURL)
	Timeout     time.Duration // the whole run; default 5m
	Progress    io.Writer     // progress lines (nil: none)
}

// Result of a run.
type Result struct {
	Mode       string        `json:"mode"`
	URL        string        `json:"url"`
	Conns      int           `json:"conns"`
	Messages   int           `json:"messages"`
	Size       int           `json:"size"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Rate       float64       `json:"rate"` // messages/s, or setups/s for connect
	P50        time.Duration `json:"p50_ns,omitempty"`
	P90        time.Duration `json:"p90_ns,omitempty"`
	P99        time.Duration `json:"p99_ns,omitempty"`
	Max        time.Duration `json:"max_ns,omitempty"`
	MemPerConn float64       `json:"mem_per_conn_bytes,omitempty"`
	Client     string        `json:"client,omitempty"`      // echo: "gws" for EchoMinimal
	ToolCPU    time.Duration `json:"tool_cpu_ns,omitempty"` // echo: CPU time the load tool's process spent during the run (user + system)
	// fanout with MetricsURL: NATS messages and their bytes that all the
	// nodes sent each other, per broadcast
	ClusterMessages float64         `json:"cluster_messages_per_broadcast,omitempty"`
	ClusterBytes    float64         `json:"cluster_bytes_per_broadcast,omitempty"`
	Latencies       []time.Duration `json:"-"`
}

// CheckLoopback refuses any target that is not on this machine.
func CheckLoopback(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "http") {
		return fmt.Errorf("target %q: use ws://127.0.0.1:PORT/path", rawURL)
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("target %q: the load tool only targets loopback addresses (127.0.0.0/8, ::1, localhost)", rawURL)
	}
	return nil
}

// urls returns the URLs in o.URL (comma-separated).
func (o *Options) urls() []string { return strings.Split(o.URL, ",") }

func (o *Options) defaults(conns, messages, size int) error {
	for _, u := range o.urls() {
		if err := CheckLoopback(u); err != nil {
			return err
		}
	}
	if o.Conns <= 0 {
		o.Conns = conns
	}
	if o.Messages <= 0 {
		o.Messages = messages
	}
	if o.Size <= 0 {
		o.Size = size
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Minute
	}
	return nil
}

func dial(rawURL string) (*wsclient.Client, error) {
	c, resp, err := wsclient.Dial(rawURL, nil)
	if err != nil && resp != nil {
		return nil, fmt.Errorf("%w: HTTP %d %s", err, resp.Status, strings.TrimSpace(resp.Body))
	}
	return c, err
}

// dialAll opens n connections with dial, a few at a time; on an error
// it closes those it opened with closeFn.
func dialAll[T comparable](ctx context.Context, o *Options, n int, dial func(i int, url string) (T, error), closeFn func(T)) ([]T, error) {
	conns := make([]T, n)
	var next atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	p := newProgress(o.Progress, "connect", n)
	for range min(n, 64) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				urls := o.urls()
				c, err := dial(i, urls[i%len(urls)])
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d: %w", i, err)
					}
					mu.Unlock()
					return
				}
				conns[i] = c
				p.add(1)
			}
		}()
	}
	wg.Wait()
	p.done()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		var zero T
		for _, c := range conns {
			if c != zero {
				closeFn(c)
			}
		}
		return nil, firstErr
	}
	return conns, nil
}

// dialClients opens n test-client connections (every mode but echo).
func dialClients(ctx context.Context, o *Options, n int) ([]*wsclient.Client, error) {
	return dialAll(ctx, o, n, func(_ int, u string) (*wsclient.Client, error) {
		c, err := dial(u)
		if err == nil {
			c.Timeout = o.Timeout
		}
		return c, err
	}, func(c *wsclient.Client) { closeAll([]*wsclient.Client{c}) })
}

func closeAll(conns []*wsclient.Client) {
	for _, c := range conns {
		if c != nil {
			c.WriteClose(1000, "")
			c.Close()
		}
	}
}

// openRun opens o.Conns connections for a run bounded by o.Timeout: when
// the time is up they are closed, which ends every read and write on
// them. done releases them.
func openRun(ctx context.Context, o *Options) (conns []*wsclient.Client, done func(), err error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	conns, err = dialClients(ctx, o, o.Conns)
	if err != nil {
		cancel()
		return nil, nil, err
	}
	stop := context.AfterFunc(ctx, func() {
		for _, c := range conns {
			c.Close()
		}
	})
	return conns, func() {
		stop()
		cancel()
		closeAll(conns)
	}, nil
}

// RTT: one connection sends Messages messages one at a time, each after
// the previous echo arrived; the result has the round-trip percentiles.
func RTT(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(1, 5000, 64); err != nil {
		return Result{}, err
	}
	c, err := dial(o.urls()[0])
	if err != nil {
		return Result{}, err
	}
	defer closeAll([]*wsclient.Client{c})
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	msg := strings.Repeat("x", o.Size)
	lat := make([]time.Duration, 0, o.Messages)
	p := newProgress(o.Progress, "rtt", o.Messages)
	deadline := time.Now().Add(o.Timeout)
	start := time.Now()
	for range o.Messages {
		t0 := time.Now()
		if t0.After(deadline) {
			return Result{}, errors.New("rtt: the run took longer than its timeout")
		}
		if err := c.WriteText(msg); err != nil {
			return Result{}, err
		}
		if _, _, err := c.ReadMessage(); err != nil {
			return Result{}, err
		}
		lat = append(lat, time.Since(t0))
		p.add(1)
	}
	p.done()
	r := Result{Mode: "rtt", URL: o.URL, Conns: 1, Messages: o.Messages, Size: o.Size, Elapsed: time.Since(start)}
	r.Rate = float64(o.Messages) / r.Elapsed.Seconds()
	r.setLatencies(lat)
	return r, nil
}

// Fanout: Conns connections join a room; one of them sends Messages
// broadcasts ("fanout:<send time>"), one at a time, each after every
// connection received the previous. The result has the delivery
// latency percentiles over all deliveries.
func Fanout(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(1000, 5, 16); err != nil {
		return Result{}, err
	}
	conns, done, err := openRun(ctx, &o)
	if err != nil {
		return Result{}, err
	}
	defer done()
	// The room learns of a member when its ws.join arrives: ask each to
	// echo a frame first, so every connection is a member before timing.
	for _, c := range conns {
		if err := c.WriteText("ready"); err != nil {
			return Result{}, err
		}
	}
	for _, c := range conns {
		if _, _, err := c.ReadMessage(); err != nil {
			return Result{}, err
		}
	}
	var msgs0, bytes0 float64
	if o.MetricsURL != "" {
		if msgs0, bytes0, err = clusterSent(o.MetricsURL); err != nil {
			return Result{}, err
		}
	}
	p := newProgress(o.Progress, "fanout", o.Conns*o.Messages)
	defer p.done()
	lat, elapsed, err := collectFanout(o, conns, p)
	if err != nil {
		return Result{}, err
	}
	p.done()
	r := Result{Mode: "fanout", URL: o.URL, Conns: o.Conns, Messages: o.Messages, Size: o.Size, Elapsed: elapsed}
	if o.MetricsURL != "" {
		msgs, bytes, err := clusterSent(o.MetricsURL)
		if err != nil {
			return Result{}, err
		}
		r.ClusterMessages = (msgs - msgs0) / float64(o.Messages)
		r.ClusterBytes = (bytes - bytes0) / float64(o.Messages)
	}
	r.Rate = float64(len(lat)) / r.Elapsed.Seconds()
	r.setLatencies(lat)
	return r, nil
}

// collectFanout sends the broadcasts and times every delivery. Each
// connection has one reader for the whole run, without read deadlines
// (when the run's time is up, openRun closes the connections and the
// readers fail): the client shares the
// machine with the server it measures, so what it spends per delivery
// (a wake-up and a read) should be as little as it can be.
func collectFanout(o Options, conns []*wsclient.Client, p *progress) ([]time.Duration, time.Duration, error) {
	var received atomic.Int64
	roundDone := make(chan struct{}, 1)
	errs := make(chan error, len(conns))
	lats := make([][]time.Duration, len(conns))
	var wg sync.WaitGroup
	defer wg.Wait()
	for i, c := range conns {
		c.Timeout = -1
		lats[i] = make([]time.Duration, 0, o.Messages)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := range o.Messages {
				_, data, err := c.ReadMessage()
				if err != nil {
					errs <- err
					return
				}
				sent, err := strconv.ParseInt(strings.TrimPrefix(string(data), "fanout:"), 10, 64)
				if err != nil {
					errs <- fmt.Errorf("round %d: unexpected frame %q", round, data)
					return
				}
				lats[i] = append(lats[i], time.Since(time.Unix(0, sent)))
				p.add(1)
				if received.Add(1)%int64(len(conns)) == 0 {
					roundDone <- struct{}{}
				}
			}
		}()
	}
	fail := func(err error) ([]time.Duration, time.Duration, error) {
		for _, c := range conns {
			c.Close() // ends the readers
		}
		return nil, 0, err
	}
	start := time.Now()
	for round := range o.Messages {
		if err := conns[0].WriteText("fanout:" + strconv.FormatInt(time.Now().UnixNano(), 10)); err != nil {
			return fail(err)
		}
		select {
		case <-roundDone:
		case err := <-errs:
			return fail(fmt.Errorf("round %d: %w", round, err))
		}
	}
	elapsed := time.Since(start)
	wg.Wait()
	lat := make([]time.Duration, 0, len(conns)*o.Messages)
	for _, l := range lats {
		lat = append(lat, l...)
	}
	return lat, elapsed, nil
}

// Connect: Messages connection setups (upgrade, handler and spawn
// included), Concurrency at a time, each closed once open. Rate is setups
// per second; the percentiles are of one setup.
func Connect(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(1, 5000, 0); err != nil {
		return Result{}, err
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	var next atomic.Int64
	var mu sync.Mutex
	var firstErr error
	lat := make([]time.Duration, 0, o.Messages)
	p := newProgress(o.Progress, "connect", o.Messages)
	start := time.Now()
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for int(next.Add(1)) <= o.Messages && ctx.Err() == nil {
				t0 := time.Now()
				c, err := dial(o.urls()[0])
				if err != nil {
					mu.Lock()
					firstErr = cmpErr(firstErr, err)
					mu.Unlock()
					return
				}
				d := time.Since(t0)
				c.WriteClose(1000, "")
				c.Close()
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
				p.add(1)
			}
		}()
	}
	wg.Wait()
	p.done()
	if firstErr != nil {
		return Result{}, firstErr
	}
	r := Result{Mode: "connect", URL: o.URL, Conns: o.Concurrency, Messages: len(lat), Elapsed: time.Since(start)}
	r.Rate = float64(len(lat)) / r.Elapsed.Seconds()
	r.setLatencies(lat)
	return r, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Idle: opens Conns connections, waits until the server's memory settles,
// and reports the server's resident memory growth per connection. The
// server's memory is read from its metrics (process_resident_memory_bytes)
// or from /proc/PID/status.
func Idle(ctx context.Context, o Options) (Result, error) {
	if err := o.defaults(1000, 0, 0); err != nil {
		return Result{}, err
	}
	if o.MetricsURL == "" && o.ServerPID == 0 {
		return Result{}, errors.New("idle: give the server's metrics URL or its PID, to read its memory")
	}
	if o.MetricsURL != "" {
		if err := CheckLoopback(o.MetricsURL); err != nil {
			return Result{}, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	before, err := serverRSS(o)
	if err != nil {
		return Result{}, err
	}
	start := time.Now()
	conns, err := dialClients(ctx, &o, o.Conns)
	if err != nil {
		return Result{}, err
	}
	defer closeAll(conns)
	elapsed := time.Since(start)
	after, err := settledRSS(ctx, o)
	if err != nil {
		return Result{}, err
	}
	return Result{Mode: "idle", URL: o.URL, Conns: o.Conns, Elapsed: elapsed, Rate: float64(o.Conns) / elapsed.Seconds(),
		MemPerConn: float64(after-before) / float64(o.Conns)}, nil
}

// settledRSS reads the server's memory until two readings 500 ms apart
// agree within 1%.
func settledRSS(ctx context.Context, o Options) (int64, error) {
	last, err := serverRSS(o)
	if err != nil {
		return 0, err
	}
	for range 20 {
		select {
		case <-ctx.Done():
			return last, nil
		case <-time.After(500 * time.Millisecond):
		}
		cur, err := serverRSS(o)
		if err != nil {
			return 0, err
		}
		if d := cur - last; d < last/100 && -d < last/100 {
			return cur, nil
		}
		last = cur
	}
	return last, nil
}

func serverRSS(o Options) (int64, error) {
	if o.ServerPID != 0 {
		f, err := os.Open("/proc/" + strconv.Itoa(o.ServerPID) + "/status")
		if err != nil {
			return 0, err
		}
		defer f.Close()
		s := bufio.NewScanner(f)
		for s.Scan() {
			if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				return kb * 1024, err
			}
		}
		return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(o.ServerPID) + "/status")
	}
	v, err := readMetrics(o.MetricsURL, "process_resident_memory_bytes")
	if err != nil {
		return 0, err
	}
	return int64(v[0]), nil
}

// clusterSent sums, over the nodes whose /metrics are in urls
// (comma-separated), the NATS messages and bytes they sent each other.
func clusterSent(urls string) (msgs, bytes float64, err error) {
	for _, u := range strings.Split(urls, ",") {
		m, err := readMetrics(u, `wsrelay_cluster_messages_total{direction="out"}`, "wsrelay_cluster_bytes_sent_total")
		if err != nil {
			return 0, 0, err
		}
		msgs += m[0]
		bytes += m[1]
	}
	return msgs, bytes, nil
}

// readMetrics reads the values of the named series from a /metrics page.
func readMetrics(url string, names ...string) ([]float64, error) {
	if err := CheckLoopback(url); err != nil {
		return nil, err
	}
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	vals, found := make([]float64, len(names)), 0
	s := bufio.NewScanner(resp.Body)
	for s.Scan() {
		for i, name := range names {
			if v, ok := strings.CutPrefix(s.Text(), name+" "); ok {
				if vals[i], err = strconv.ParseFloat(v, 64); err != nil {
					return nil, fmt.Errorf("%s: %s: %w", url, name, err)
				}
				found++
			}
		}
	}
	if found != len(names) {
		return nil, fmt.Errorf("%s: the metrics lack one of %s (is the node in a cluster?)", url, strings.Join(names, ", "))
	}
	return vals, s.Err()
}

func (r *Result) setLatencies(lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	at := func(q float64) time.Duration { return lat[min(len(lat)-1, int(q*float64(len(lat))))] }
	r.P50, r.P90, r.P99, r.Max = at(0.5), at(0.9), at(0.99), lat[len(lat)-1]
	r.Latencies = lat
}

// progress prints "mode: n/total (p%)" at most five times a second.
type progress struct {
	w     io.Writer
	mode  string
	total int
	n     atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

func newProgress(w io.Writer, mode string, total int) *progress {
	p := &progress{w: w, mode: mode, total: total, stop: make(chan struct{})}
	if w == nil || total == 0 {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.print()
			}
		}
	}()
	return p
}

func (p *progress) add(n int) { p.n.Add(int64(n)) }

func (p *progress) print() {
	n := int(p.n.Load())
	const width = 30
	filled := width * n / p.total
	fmt.Fprintf(p.w, "\r%-8s [%s%s] %d/%d", p.mode, strings.Repeat("#", filled), strings.Repeat(".", width-filled), n, p.total)
}

// done stops the progress line; calls after the first do nothing, so an
// error path can leave it to a deferred call.
func (p *progress) done() {
	if p.w == nil || p.total == 0 {
		return
	}
	p.once.Do(func() {
		close(p.stop)
		p.wg.Wait()
		p.print()
		fmt.Fprintln(p.w)
	})
}
