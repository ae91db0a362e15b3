package gateway

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/process/transport"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// metrics are an app's Prometheus metrics, in a registry of its own (no
// global state), served by http.metrics entries. It implements
// wsrelay.Metrics for the relays of the app.
type metrics struct {
	reg     *prometheus.Registry
	open    prometheus.Gauge
	frames  *prometheus.CounterVec
	bytes   *prometheus.CounterVec
	closes  *prometheus.CounterVec
	pauses  *prometheus.CounterVec
	refused *prometheus.CounterVec
	latency *prometheus.HistogramVec

	relaysMu sync.Mutex
	relays   []*wsrelay.Relay // for wsrelay_outbound_bytes, read at scrape time

	cluster clusterStats // the cluster transport's counters; nil on one node
}

func newMetrics(node *process.Node, tr transport.Transport) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "wsrelay_connections_open", Help: "WebSocket connections open now.",
		}),
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsrelay_frames_total", Help: "WebSocket data frames relayed, by direction (in: from clients, out: to clients).",
		}, []string{"direction"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsrelay_frame_bytes_total", Help: "Payload bytes of WebSocket data frames, by direction.",
		}, []string{"direction"}),
		closes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsrelay_connections_closed_total", Help: "WebSocket connections closed, by reason (slow_consumer counts the clients dropped for not reading).",
		}, []string{"reason"}),
		pauses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsrelay_read_pauses_total", Help: "Times the relay stopped reading a client, by cause (target_mailbox: the client's frames its target has not taken reached wsrelay.inflight.max.bytes or a quarter of wsrelay.outbound.queue, or the target's mailbox was full; outbound_queue: what waits to be written to the client reached wsrelay.outbound.pause.bytes or a quarter of wsrelay.outbound.queue).",
		}, []string{"cause"}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "wsrelay_requests_refused_total", Help: "Requests refused before their handler ran, by reason (bad_handshake, bad_version, origin, host).",
		}, []string{"reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "wsrelay_http_handler_seconds", Help: "Time to answer an HTTP request that reached its endpoint's handler, by endpoint entry (for WebSocket endpoints: until the upgrade; requests refused before the handler, such as by origin, are not counted).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"endpoint"}),
	}
	for _, cause := range []string{wsrelay.PauseTargetMailbox, wsrelay.PauseOutboundQueue} {
		m.pauses.WithLabelValues(cause) // shown as 0 before the first pause
	}
	queued := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "wsrelay_outbound_bytes", Help: "Payload bytes waiting to be written to WebSocket clients now, over every connection (a payload sent to several clients counts for each).",
	}, m.outboundBytes)
	m.reg.MustRegister(m.open, m.frames, m.bytes, m.closes, m.pauses, m.refused, m.latency, queued, nodeCollector{node},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s, ok := tr.(clusterStats); ok {
		m.cluster = s
		m.reg.MustRegister(clusterCollector{s})
	}
	return m
}

func (m *metrics) Opened()              { m.open.Inc() }
func (m *metrics) Closed(reason string) { m.open.Dec(); m.closes.WithLabelValues(reason).Inc() }
func (m *metrics) FrameIn(n int)        { m.count("in", n) }
func (m *metrics) FrameOut(n int)       { m.count("out", n) }
func (m *metrics) Paused(cause string)  { m.pauses.WithLabelValues(cause).Inc() }

// Refused implements wsrelay.RefusalMetrics.
func (m *metrics) Refused(reason string) { m.refused.WithLabelValues(reason).Inc() }

// addRelay makes a relay's waiting bytes part of wsrelay_outbound_bytes.
func (m *metrics) addRelay(rl *wsrelay.Relay) {
	m.relaysMu.Lock()
	m.relays = append(m.relays, rl)
	m.relaysMu.Unlock()
}

// relayList returns the app's relays.
func (m *metrics) relayList() []*wsrelay.Relay {
	m.relaysMu.Lock()
	defer m.relaysMu.Unlock()
	return append([]*wsrelay.Relay(nil), m.relays...)
}

func (m *metrics) outboundBytes() float64 {
	m.relaysMu.Lock()
	defer m.relaysMu.Unlock()
	var n int64
	for _, rl := range m.relays {
		n += rl.OutboundBytes()
	}
	return float64(n)
}

func (m *metrics) count(dir string, n int) {
	m.frames.WithLabelValues(dir).Inc()
	m.bytes.WithLabelValues(dir).Add(float64(n))
}

// timed records how long an endpoint takes, counting only requests that
// reached its handler (wrapped in ran): a request that post middleware
// refused first, such as the relay's origin check, is not counted.
func (m *metrics) timed(endpoint string, h http.Handler) http.Handler {
	obs := m.latency.WithLabelValues(endpoint)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		reached := new(bool)
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), handlerRanKey{}, reached)))
		if *reached {
			obs.Observe(time.Since(start).Seconds())
		}
	})
}

type handlerRanKey struct{}

// ran marks, for timed, that the request reached the endpoint's handler.
func ran(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reached, ok := r.Context().Value(handlerRanKey{}).(*bool); ok {
			*reached = true
		}
		h.ServeHTTP(w, r)
	})
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// nodeCollector reads the process counters of a node at scrape time.
type nodeCollector struct{ node *process.Node }

var (
	descProcesses = prometheus.NewDesc("wsrelay_processes", "Processes running now, by process host.", []string{"host"}, nil)
	descSpawned   = prometheus.NewDesc("wsrelay_processes_spawned_total", "Processes spawned, by process host.", []string{"host"}, nil)
	descDropped   = prometheus.NewDesc("wsrelay_mailbox_dropped_total", "Messages dropped because a mailbox was full, by process host.", []string{"host"}, nil)
	descDead      = prometheus.NewDesc("wsrelay_dead_letters_total", "Messages sent to processes that had ended.", nil, nil)
)

func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descProcesses
	ch <- descSpawned
	ch <- descDropped
	ch <- descDead
}

func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.node.Hosts() {
		s := h.Stats()
		ch <- prometheus.MustNewConstMetric(descProcesses, prometheus.GaugeValue, float64(s.Live), h.Name())
		ch <- prometheus.MustNewConstMetric(descSpawned, prometheus.CounterValue, float64(s.Spawned), h.Name())
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Dropped), h.Name())
	}
	ch <- prometheus.MustNewConstMetric(descDead, prometheus.CounterValue, float64(c.node.Stats().DeadLetters))
}

// clusterStats is a transport that counts what it carries between nodes:
// cluster.Transport.
type clusterStats interface{ Stats() cluster.Stats }

// clusterCollector reads the cluster transport's counters at scrape time.
type clusterCollector struct{ tr clusterStats }

var (
	descBatches = prometheus.NewDesc("wsrelay_cluster_messages_total", "NATS messages of signals between this node and the others, by direction (each carries a batch of signals; heartbeats are not counted).", []string{"direction"}, nil)
	descSignals = prometheus.NewDesc("wsrelay_cluster_signals_total", "Signals (messages, links, monitors, group broadcasts) carried between this node and the others, by direction.", []string{"direction"}, nil)
	descBytes   = prometheus.NewDesc("wsrelay_cluster_bytes_sent_total", "Bytes of the NATS messages this node sent to the others.", nil, nil)
	descLost    = prometheus.NewDesc("wsrelay_cluster_dropped_total", "What the cluster transport dropped, by reason (backlog: a signal refused for a full queue toward its node, or its node went down; slow: batches to this node NATS dropped because it fell behind; invalid: batches with invalid bytes; stale: batches of an earlier incarnation; publish: NATS refused a publish; partial: big batches whose parts did not all come; misattributed: relation signals naming a node other than their batch's).", []string{"reason"}, nil)
)

func (c clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descBatches
	ch <- descSignals
	ch <- descBytes
	ch <- descLost
}

func (c clusterCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.tr.Stats()
	counter := func(d *prometheus.Desc, v uint64, label ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), label...)
	}
	counter(descBatches, s.BatchesOut, "out")
	counter(descBatches, s.BatchesIn, "in")
	counter(descSignals, s.SignalsOut, "out")
	counter(descSignals, s.SignalsIn, "in")
	counter(descBytes, s.BytesOut)
	counter(descLost, s.Dropped, "backlog")
	counter(descLost, s.SlowDropped, "slow")
	counter(descLost, s.BadIn, "invalid")
	counter(descLost, s.Stale, "stale")
	counter(descLost, s.PublishErrors, "publish")
	counter(descLost, s.PartialsDropped, "partial")
	counter(descLost, s.Misattributed, "misattributed")
}

// Counters returns the app's running totals an observer charts: frames
// and their bytes in and out, connections open and closed, and, on a node
// of a cluster, the messages and bytes sent to other nodes.
func (a *App) Counters() map[string]float64 {
	m := a.metrics
	out := map[string]float64{}
	read := func(name string, c prometheus.Metric) {
		var d dto.Metric
		if c.Write(&d) != nil {
			return
		}
		switch {
		case d.Counter != nil:
			out[name] = d.Counter.GetValue()
		case d.Gauge != nil:
			out[name] = d.Gauge.GetValue()
		}
	}
	read("frames_in", m.frames.WithLabelValues("in"))
	read("frames_out", m.frames.WithLabelValues("out"))
	read("frame_bytes_in", m.bytes.WithLabelValues("in"))
	read("frame_bytes_out", m.bytes.WithLabelValues("out"))
	read("connections_open", m.open)
	if m.cluster != nil {
		s := m.cluster.Stats()
		out["cluster_messages_out"], out["cluster_messages_in"] = float64(s.BatchesOut), float64(s.BatchesIn)
	}
	return out
}
