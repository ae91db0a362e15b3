package wsrelay

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/wsrelay/wsrelay/internal/origin"
	"github.com/wsrelay/wsrelay/process"
)

// Defaults of Options.
const (
	DefaultMaxMessageSize = 1 << 20
	DefaultOutboundQueue  = 256
	DefaultWriteTimeout   = 10 * time.Second
	DefaultPingInterval   = 30 * time.Second
	DefaultPongTimeout    = 30 * time.Second
	DefaultHost           = "wsrelay"
	// Byte budgets of a connection (see Options).
	DefaultOutboundPauseBytes = 1 << 20
	DefaultOutboundMaxBytes   = 5 << 20
	DefaultInflightMaxBytes   = 1 << 20
	// MaxWriteSize bounds one frame written to a client.
	MaxWriteSize = 64 << 20

	// Limits on what clients send (docs/relay.md, "Limits and hostile clients").
	DefaultReadTimeout   = 30 * time.Second
	DefaultInboundBudget = 32 << 20
	// Rates of work one client may cause (Options.MaxFrameRate,
	// Options.MaxInflateRate).
	DefaultMaxFrameRate   = 50000
	DefaultMaxInflateRate = 16 << 20
)

// Options configure a Relay. Node is required; the zero value of every
// other field means its default.
type Options struct {
	// Node runs the connection processes. Required.
	Node *process.Node
	// Logger receives the relay's logs. Default: discarded.
	Logger *slog.Logger
	// Route names the route in logs (the router's entry id).
	Route string
	// Host is the process host of connection processes: client PIDs read
	// {node@wsrelay|id}. It is added to the node when missing. Default "wsrelay".
	Host string
	// AllowedOrigins is a comma-separated list of origins that may open
	// connections: exact origins, "https://*.example.com" wildcards, or
	// "*". Empty: same-origin only. Requests without an Origin header
	// (not from a browser) are always allowed.
	AllowedOrigins string
	// MaxMessageSize is the largest message a client may send, in bytes,
	// inclusive; a larger one closes the connection with 1009. Default 1 MiB.
	MaxMessageSize int
	// OutboundQueue is how many frames may wait to be written to one
	// client; a client that lets it fill is closed (slow_consumer). It
	// bounds a flood of small frames; large ones meet the byte budgets
	// below first. The relay stops reading a client while a quarter of
	// it waits, or while the client has that many frames in flight to its
	// target. Default 256.
	OutboundQueue int
	// WriteTimeout bounds one write to a client (a frame, or the frames
	// queued together, up to 64 KiB); a client that takes longer is
	// closed (slow_consumer). Default 10s.
	WriteTimeout time.Duration
	// PingInterval is how often the relay pings a client that sent
	// nothing; negative disables pings and dead-peer detection. Default 30s.
	PingInterval time.Duration
	// PongTimeout is how long after a ping a silent client is taken for
	// dead (closed, reason timeout). The time the relay itself holds the
	// client back (see Metrics.Paused, and a wait for InboundBudget)
	// counts neither here nor toward PingInterval. Default 30s.
	PongTimeout time.Duration
	// Compression enables permessage-deflate when the client offers it.
	// Default off.
	Compression bool
	// RawPayload sends every client frame of the route to its target as the
	// frame's data alone (a string or bytes), as the original runtime
	// does, instead of the table {client_pid, data, metadata, type}; an
	// X-WS-Relay header can ask for it per connection (raw_payload).
	// Default false.
	RawPayload bool
	// Metrics receives counts of connections and frames. Default: none.
	Metrics Metrics

	// Host names (DNS rebinding).

	// AllowedHosts is a comma-separated list of host names (no port:
	// "app.test", "*.example.com", "192.168.1.20", or "*" for any) that a
	// request reaching the server on a loopback address may name in its
	// Host header, besides the loopback names (localhost, 127.0.0.0/8,
	// [::1]), which are always allowed. Any other Host on a loopback
	// connection gets 421 before the handler runs, so a page on a
	// rebound DNS name cannot reach a local server. Requests on
	// non-loopback addresses are not checked. Default: loopback names only.
	AllowedHosts string

	// Limits on what clients send: see "Limits and hostile clients" in
	// docs/relay.md.

	// ReadTimeout bounds how long a client may take to send a frame the
	// relay holds back (one over 4 KiB, or compressed) once reading it has
	// begun, and a fragmented message from its first frame to its last; a
	// client that takes longer is closed with 1008 (reason timeout).
	// The time the relay itself holds the client back does not count.
	// Default 30s.
	ReadTimeout time.Duration
	// InboundBudget bounds the bytes of frames being received that the
	// relay holds back, of fragmented messages not yet whole (each takes
	// MaxMessageSize, its length not being announced), and of
	// inflated messages until they are relayed, over every relay that
	// shares it (the gateway gives the relays of an app one Budget); past
	// it, reading those clients pauses until bytes are handed on.
	// Default: a budget of this relay's own, of InboundBudgetSize.
	InboundBudget *Budget
	// InboundBudgetSize is the size of the budget in bytes. On a shared
	// budget the largest size any relay sets wins; default
	// DefaultInboundBudget (32 MiB).
	InboundBudgetSize int64
	// MaxFrameRate bounds the frames (data, control and continuation
	// frames alike) one client may send per second, as the relay reads
	// them: a client may send a second's worth at once, and one that
	// stays above the rate longer is closed with 1008 (ws.leave reason
	// error). Negative: no bound. Default 50,000.
	MaxFrameRate int
	// MaxInflateRate bounds the bytes one client's compressed messages
	// may inflate to per second (permessage-deflate: a 1 KiB message can
	// inflate to 1 MiB): a client may inflate a second's worth, or one
	// MaxMessageSize when that is larger, at once, and one that stays
	// above the rate longer is closed with 1008 (ws.leave reason error).
	// Negative: no bound. Default 16 MiB.
	MaxInflateRate int

	// Byte budgets of one connection (docs/relay.md, "Backpressure").
	// Sizes count payload bytes; one payload sent to many clients is held
	// once, but counts in full against each client's budget.

	// OutboundPauseBytes: while this many bytes wait to be written to a
	// client (its outbound queue and what is being written), the relay
	// stops reading that client. Default 1 MiB.
	OutboundPauseBytes int
	// OutboundMaxBytes: a frame that would take what waits to be written
	// to a client past this is not queued: the client is closed as a slow
	// consumer. A frame larger than the budget is still queued when
	// nothing else waits. It must be at least OutboundPauseBytes +
	// InflightMaxBytes + 2 × MaxMessageSize, so that a client that reads
	// its echoes is never cut off. Default 4 MiB, or that sum when larger.
	OutboundMaxBytes int
	// InflightMaxBytes: while the frames a client sent that its target has
	// not yet taken from its mailbox add up to this many bytes, the relay
	// stops reading that client. Default 1 MiB.
	InflightMaxBytes int
}

// Metrics is what the relay reports; the gateway's Prometheus metrics
// implement it. Calls come from many goroutines.
type Metrics interface {
	// Opened: a connection was upgraded and its process started.
	Opened()
	// Closed: a connection ended, with its ws.leave reason (or
	// target_exited, target_failed).
	Closed(reason string)
	// FrameIn: a frame of n bytes came from a client.
	FrameIn(n int)
	// FrameOut: a frame of n bytes was written to a client.
	FrameOut(n int)
	// Paused: the relay stopped reading a client for a while, because
	// of cause: PauseTargetMailbox or PauseOutboundQueue.
	Paused(cause string)
}

// Causes of a pause in reading a client.
const (
	PauseTargetMailbox = "target_mailbox" // the client's frames the target has not taken reached InflightMaxBytes or a quarter of OutboundQueue, or the target's mailbox is full
	PauseOutboundQueue = "outbound_queue" // what waits to be written to the client reached OutboundPauseBytes or a quarter of OutboundQueue
)

type noMetrics struct{}

func (noMetrics) Opened()       {}
func (noMetrics) Closed(string) {}
func (noMetrics) FrameIn(int)   {}
func (noMetrics) FrameOut(int)  {}
func (noMetrics) Paused(string) {}

func (o *Options) defaults() error {
	if o.Node == nil {
		return fmt.Errorf("wsrelay: Options.Node is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = noMetrics{}
	}
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.MaxMessageSize == 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.OutboundQueue == 0 {
		o.OutboundQueue = DefaultOutboundQueue
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.PongTimeout == 0 {
		o.PongTimeout = DefaultPongTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.MaxFrameRate == 0 {
		o.MaxFrameRate = DefaultMaxFrameRate
	}
	if o.MaxInflateRate == 0 {
		o.MaxInflateRate = DefaultMaxInflateRate
	}
	if o.OutboundPauseBytes == 0 {
		o.OutboundPauseBytes = DefaultOutboundPauseBytes
	}
	if o.InflightMaxBytes == 0 {
		o.InflightMaxBytes = DefaultInflightMaxBytes
	}
	if o.OutboundMaxBytes == 0 {
		o.OutboundMaxBytes = max(DefaultOutboundMaxBytes, o.OutboundPauseBytes+o.InflightMaxBytes+3*o.MaxMessageSize)
	}
	switch {
	case o.MaxMessageSize < 1:
		return &OptionError{"MaxMessageSize", "must be at least 1 byte"}
	case o.OutboundQueue < 1:
		return &OptionError{"OutboundQueue", "must be at least 1"}
	case o.WriteTimeout < 0:
		return &OptionError{"WriteTimeout", "must be positive"}
	case o.PongTimeout < 0:
		return &OptionError{"PongTimeout", "must be positive"}
	case o.ReadTimeout < 0:
		return &OptionError{"ReadTimeout", "must be positive"}
	case o.InboundBudgetSize < 0:
		return &OptionError{"InboundBudgetSize", "must be at least 1 byte"}
	case o.OutboundPauseBytes < 1:
		return &OptionError{"OutboundPauseBytes", "must be at least 1 byte"}
	case o.InflightMaxBytes < 1:
		return &OptionError{"InflightMaxBytes", "must be at least 1 byte"}
	case o.OutboundMaxBytes < o.OutboundPauseBytes+o.InflightMaxBytes+3*o.MaxMessageSize:
		return &OptionError{"OutboundMaxBytes", fmt.Sprintf("must be at least OutboundPauseBytes + InflightMaxBytes + 3 × MaxMessageSize (%d + %d + 3 × %d), or a client that reads its echoes could be closed as a slow consumer", o.OutboundPauseBytes, o.InflightMaxBytes, o.MaxMessageSize)}
	}
	if _, err := origin.Parse(o.AllowedOrigins); err != nil {
		return &OptionError{"AllowedOrigins", err.Error()}
	}
	if _, err := origin.ParseHosts(o.AllowedHosts); err != nil {
		return &OptionError{"AllowedHosts", err.Error()}
	}
	return nil
}

// OptionError reports a bad field of Options.
type OptionError struct {
	Field string // the Options field, such as "MaxMessageSize"
	Msg   string // what is wrong with it; other fields are named as in Options
}

func (e *OptionError) Error() string { return "wsrelay: Options." + e.Field + ": " + e.Msg }
