package observer

import (
	"cmp"
	"strings"
	"time"

	"github.com/wsrelay/wsrelay/pid"
)

// ConnInfo is what a relay tells an observer of one of its connections.
type ConnInfo struct {
	PID       pid.PID
	Route     string // the router entry it came through
	Remote    string // the client's address
	Origin    string // its Origin header, if any
	Path      string // the request path with its query string
	Target    pid.PID
	State     string // opening, open, closing, closed
	Opened    time.Time
	LastRead  time.Time // the client's last frame
	FramesIn  int64     // data frames from the client, relayed
	FramesOut int64     // data frames written to the client
	BytesIn   int64     // their payload bytes
	BytesOut  int64
}

// ConnView is one row of /connections.
type ConnView struct {
	PID    string `json:"pid"`
	Route  string `json:"route,omitempty"`
	Remote string `json:"remote"`
	Origin string `json:"origin,omitempty"`
	Path   string `json:"path"`
	Target string `json:"target"`
	// TargetName is a name the target is registered under on this node,
	// if any.
	TargetName string  `json:"target_name,omitempty"`
	State      string  `json:"state"`
	Age        float64 `json:"age_s"`
	Idle       float64 `json:"idle_s"` // since the client last sent a frame
	FramesIn   int64   `json:"frames_in"`
	FramesOut  int64   `json:"frames_out"`
	BytesIn    int64   `json:"bytes_in"`
	BytesOut   int64   `json:"bytes_out"`
}

// ConnPage is a page of /connections: Total rows matched the filter.
type ConnPage struct {
	Total  int        `json:"total"`
	Offset int        `json:"offset"`
	Rows   []ConnView `json:"rows"`
}

// Connections filters (by a part of the PID, remote address, origin,
// path or target), sorts (pid, age, idle, frames_in, frames_out) and
// pages the node's relay connections, at most MaxRows.
func (l Local) Connections(q Query) ConnPage {
	q.bound()
	now := time.Now()
	var all []ConnInfo
	if l.Conns != nil {
		l.Conns(func(c ConnInfo) bool {
			if q.Q == "" || connMatches(c, q.Q) {
				all = append(all, c)
			}
			return true
		})
	}
	key := func(a, b ConnInfo) int {
		switch q.Sort {
		case "age":
			return b.Opened.Compare(a.Opened)
		case "idle":
			return b.LastRead.Compare(a.LastRead)
		case "frames_in":
			return cmp.Compare(a.FramesIn, b.FramesIn)
		case "frames_out":
			return cmp.Compare(a.FramesOut, b.FramesOut)
		}
		return cmp.Compare(a.PID.ID, b.PID.ID)
	}
	rows, off := sortPage(all, q, key, func(c ConnInfo) uint64 { return c.PID.ID })
	page := ConnPage{Total: len(all), Offset: off, Rows: []ConnView{}}
	for _, c := range rows {
		// A row is at most about 1 KiB as JSON, escapes and all ('&' of
		// a query string takes six bytes): 500 rows fit MaxViewBytes.
		v := ConnView{PID: c.PID.String(), Route: clipJSON(c.Route, 60), Remote: clipJSON(c.Remote, 64), Origin: clipJSON(c.Origin, 140),
			Path: clipJSON(c.Path, 360), Target: c.Target.String(), State: clipJSON(c.State, 10), Age: now.Sub(c.Opened).Seconds(),
			FramesIn: c.FramesIn, FramesOut: c.FramesOut, BytesIn: c.BytesIn, BytesOut: c.BytesOut}
		if l.Node != nil {
			if t, ok := l.Node.Inspect(c.Target); ok && len(t.Names) > 0 {
				v.TargetName = clipJSON(t.Names[0], 100)
			}
		}
		if !c.LastRead.IsZero() {
			v.Idle = now.Sub(c.LastRead).Seconds()
		}
		page.Rows = append(page.Rows, v)
	}
	return page
}

func connMatches(c ConnInfo, q string) bool {
	for _, s := range []string{c.PID.String(), c.Remote, c.Origin, c.Path, c.Target.String()} {
		if strings.Contains(s, q) {
			return true
		}
	}
	return false
}

// TraceEvent is one event of a connection's live trace.
type TraceEvent struct {
	Seq     uint64    `json:"seq"`
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`           // in, out (data frames), join, leave, control, close
	Type    string    `json:"type,omitempty"` // text or binary, for frames
	Size    int       `json:"size,omitempty"` // payload bytes, for frames
	Payload string    `json:"payload,omitempty"`
	Detail  string    `json:"detail,omitempty"` // a leave's reason, a close's code, a control's new target
}

// TraceView is what a trace page gets each second: the events after the
// one it has (Query.Since), how many the trace could not keep, and
// whether the connection has ended.
type TraceView struct {
	PID     string       `json:"pid"`
	Events  []TraceEvent `json:"events"`
	Dropped uint64       `json:"dropped,omitempty"`
	Ended   bool         `json:"ended,omitempty"`
	Error   string       `json:"error,omitempty"`
}

// TraceFunc returns a connection's trace after seq since, starting to
// trace it if it is not yet traced (with payloads: their first bytes
// too); false when there is no such connection.
type TraceFunc func(client pid.PID, since uint64, payloads bool) (TraceView, bool)

// Trace returns the events of a connection's trace that a page has not
// seen.
func (l Local) Trace(q Query) TraceView {
	client, err := pid.Parse(q.PID)
	if err != nil {
		return TraceView{PID: q.PID, Error: "not a PID: " + err.Error()}
	}
	if l.Tracer == nil {
		return TraceView{PID: q.PID, Error: "this node has no relay connections to trace"}
	}
	payloads := q.Payloads && l.Payloads
	v, ok := l.Tracer(client, q.Since, payloads)
	if !ok {
		return TraceView{PID: q.PID, Ended: true, Error: "no such connection on this node (it may have ended)"}
	}
	if len(v.Events) > MaxTraceEvents {
		v.Events = v.Events[len(v.Events)-MaxTraceEvents:]
	}
	if !payloads {
		// The trace keeps payloads if the observer that started it asked
		// for them (one with a token, or another node's): they are not
		// for this reader.
		withoutPayloads(v.Events)
	}
	return v
}

func withoutPayloads(events []TraceEvent) {
	for i := range events {
		events[i].Payload = ""
	}
}

// MaxTraceEvents bounds the events of one trace answer.
const MaxTraceEvents = 256
