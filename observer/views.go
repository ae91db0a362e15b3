package observer

import (
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsrelay/wsrelay/pg"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// Overview is the node at a glance.
type Overview struct {
	Node       string             `json:"node"`
	Time       time.Time          `json:"time"`
	Uptime     float64            `json:"uptime_s"`
	Processes  int                `json:"processes"`
	Hosts      []HostView         `json:"hosts"`
	Goroutines int                `json:"goroutines"`
	HeapBytes  uint64             `json:"heap_bytes"`
	TotalBytes uint64             `json:"total_bytes"` // memory the Go runtime holds from the OS
	GCCycles   uint64             `json:"gc_cycles"`
	Counters   map[string]float64 `json:"counters,omitempty"`
}

// HostView is one process host's counters.
type HostView struct {
	Name    string `json:"name"`
	Live    int    `json:"live"`
	Spawned uint64 `json:"spawned"`
	Dropped uint64 `json:"dropped"`
	In      uint64 `json:"messages_in"`
	Out     uint64 `json:"messages_out"`
}

var memSamples = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/total:bytes", "/gc/cycles/total:gc-cycles", "/sched/goroutines:goroutines"}

// Local computes the views of one node: what its observer shows, and what
// it answers another node's observer with.
type Local struct {
	Node     *process.Node
	PG       *pg.Service // the node's process groups, if any
	Counters func() map[string]float64
	// Conns lists the node's relay connections, and Tracer traces one;
	// nil when the node has none.
	Conns  func(yield func(ConnInfo) bool)
	Tracer TraceFunc
	// Payloads lets a trace show the first bytes of each frame when its
	// page asks; off unless the observer has a token.
	Payloads bool
	// Global lists the cluster-wide names as this node knows them; nil
	// on one node.
	Global func() []NameView
	// Lua tells what a Lua process has used of its budget; nil when the
	// node runs no Lua.
	Lua func(pid.PID) (LuaUsage, bool)
	// Logger receives, at warn level, each action carried out for
	// another node's observer (Answer). Default: none logged.
	Logger *slog.Logger
}

// LuaUsage is what a Lua process has used of its budget.
type LuaUsage struct {
	Memory      int64 `json:"memory"`       // bytes, as its budget counts them
	MemoryLimit int64 `json:"memory_limit"` // its budget
	Steps       int64 `json:"steps"`        // VM instructions and builtin steps run
}

// Overview returns the node at a glance.
func (l Local) Overview() Overview {
	n := l.Node
	v := Overview{Node: n.Name(), Time: time.Now(), Uptime: time.Since(n.Boot()).Seconds(), Processes: n.Stats().Processes}
	for _, h := range n.Hosts() {
		s := h.Stats()
		v.Hosts = append(v.Hosts, HostView{Name: h.Name(), Live: s.Live, Spawned: s.Spawned, Dropped: s.Dropped, In: s.In, Out: s.Out})
	}
	samples := make([]metrics.Sample, len(memSamples))
	for i, name := range memSamples {
		samples[i].Name = name
	}
	metrics.Read(samples)
	u := func(i int) uint64 {
		if samples[i].Value.Kind() == metrics.KindUint64 {
			return samples[i].Value.Uint64()
		}
		return 0
	}
	v.HeapBytes, v.TotalBytes, v.GCCycles, v.Goroutines = u(0), u(1), u(2), int(u(3))
	if v.Goroutines == 0 {
		v.Goroutines = runtime.NumGoroutine()
	}
	if l.Counters != nil {
		v.Counters = l.Counters()
	}
	if v.Counters == nil {
		v.Counters = map[string]float64{}
	}
	for _, h := range v.Hosts { // the processes' messages, charted a second
		v.Counters["messages_in"] += float64(h.In)
		v.Counters["messages_out"] += float64(h.Out)
	}
	return v
}

// ProcessView is one row of /processes.
type ProcessView struct {
	PID          string    `json:"pid"`
	Host         string    `json:"host"`
	Entry        string    `json:"entry,omitempty"`
	Names        []string  `json:"names,omitempty"`
	NamesTotal   int       `json:"names_total,omitempty"` // in a row of /processes: the names, when Names lists fewer
	Kind         string    `json:"kind"`                  // connection, reactive (a Go handler run on delivery) or goroutine (a Lua process, a Go function)
	Age          float64   `json:"age_s"`
	MailboxLen   int       `json:"mailbox"`
	MailboxBytes int       `json:"mailbox_bytes"`
	Links        int       `json:"links"`
	Monitors     int       `json:"monitors"`
	Watchers     int       `json:"watchers"`
	MessagesIn   uint64    `json:"messages_in"`
	MessagesOut  uint64    `json:"messages_out"`
	Lua          *LuaUsage `json:"lua,omitempty"` // for a Lua process
}

// ProcessPage is a page of /processes: Total rows matched the filter.
type ProcessPage struct {
	Total  int           `json:"total"`
	Offset int           `json:"offset"`
	Rows   []ProcessView `json:"rows"`
}

// Query selects the rows of /processes.
type Query struct {
	Node   string `json:"node,omitempty"` // the node whose processes to show; default this one
	Q      string `json:"q"`              // a substring of the PID, host, entry or a name
	Sort   string `json:"sort"`           // pid, age, mailbox, mailbox_bytes, host, entry
	Desc   bool   `json:"desc"`
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
	// For a trace: the connection, the last event the page has, and
	// whether to show the first bytes of payloads.
	PID      string `json:"pid,omitempty"`
	Since    uint64 `json:"since,omitempty"`
	Payloads bool   `json:"payloads,omitempty"`
}

// MaxRows bounds a page of processes, whatever the query asks.
const MaxRows = 500

func queryOf(r *http.Request) Query {
	q := r.URL.Query()
	off, _ := strconv.Atoi(q.Get("offset"))
	lim, _ := strconv.Atoi(q.Get("limit"))
	since, _ := strconv.ParseUint(q.Get("since"), 10, 64)
	return Query{Node: q.Get("node"), PID: q.Get("pid"), Since: since, Payloads: q.Get("payloads") == "1", Q: q.Get("q"), Sort: q.Get("sort"), Desc: q.Get("desc") == "1" || q.Get("desc") == "true", Offset: off, Limit: lim}
}

func (q *Query) bound() {
	q.Q = clip(q.Q, 200)
	q.Node = clip(q.Node, 200)
	q.PID = clip(q.PID, 200)
	if q.Limit <= 0 || q.Limit > MaxRows {
		q.Limit = min(100, MaxRows)
	}
	q.Offset = max(q.Offset, 0)
}

// Processes filters, sorts and pages the node's processes. It walks every
// process once; what it keeps is bounded by the matches, and what it
// returns by MaxRows.
func (l Local) Processes(q Query) ProcessPage {
	q.bound()
	now := time.Now()
	var all []process.ProcessInfo
	l.Node.Processes(func(p process.ProcessInfo) bool {
		if q.Q == "" || matches(p, q.Q) {
			all = append(all, p)
		}
		return true
	})
	key := func(a, b process.ProcessInfo) int {
		switch q.Sort {
		case "age":
			return a.Started.Compare(b.Started) * -1
		case "mailbox":
			return cmp.Compare(a.MailboxLen, b.MailboxLen)
		case "mailbox_bytes":
			return cmp.Compare(a.MailboxBytes, b.MailboxBytes)
		case "host":
			return strings.Compare(a.Host, b.Host)
		case "entry":
			return strings.Compare(a.Entry, b.Entry)
		case "messages_in":
			return cmp.Compare(a.MessagesIn, b.MessagesIn)
		case "messages_out":
			return cmp.Compare(a.MessagesOut, b.MessagesOut)
		}
		return cmp.Compare(a.PID.ID, b.PID.ID)
	}
	rows, off := sortPage(all, q, key, func(p process.ProcessInfo) uint64 { return p.PID.ID })
	page := ProcessPage{Total: len(all), Offset: off}
	// A row lists MaxNamesPerRow names, and the page what is left of
	// MaxViewBytes once its rows are counted without them (at most about
	// 700 bytes each, escapes and all, their entry and host cut): 500
	// rows of processes holding 64 names of 256 bytes each would be 8 MB
	// a second.
	b := newBudget()
	for _, p := range rows {
		b.take(p.PID.String(), clipJSON(p.Entry, maxEntryJSON), clipJSON(p.Host, maxHostJSON))
		b.left -= 300 // the keys and numbers of a row
	}
	for _, p := range rows {
		v := viewOf(p, now)
		v.Entry, v.Host = clipJSON(v.Entry, maxEntryJSON), clipJSON(v.Host, maxHostJSON)
		v.Names = nil
		for _, name := range p.Names[:min(len(p.Names), MaxNamesPerRow)] {
			if !b.take(name) {
				break
			}
			v.Names = append(v.Names, name)
		}
		if len(v.Names) < len(p.Names) {
			v.NamesTotal = len(p.Names)
		}
		if l.Lua != nil {
			if u, ok := l.Lua(p.PID); ok {
				v.Lua = &u
			}
		}
		page.Rows = append(page.Rows, v)
	}
	return page
}

// sortPage sorts rows by key (ties by id), reversed with q.Desc, and
// returns the page q asks for and its offset.
func sortPage[T any](rows []T, q Query, key func(a, b T) int, id func(T) uint64) ([]T, int) {
	slices.SortFunc(rows, func(a, b T) int {
		c := key(a, b)
		if c == 0 {
			c = cmp.Compare(id(a), id(b))
		}
		if q.Desc {
			return -c
		}
		return c
	})
	off := min(q.Offset, len(rows))
	return rows[off:min(off+q.Limit, len(rows))], off
}

func matches(p process.ProcessInfo, q string) bool {
	if strings.Contains(p.PID.String(), q) || strings.Contains(p.Entry, q) {
		return true
	}
	for _, n := range p.Names {
		if strings.Contains(n, q) {
			return true
		}
	}
	return false
}

func viewOf(p process.ProcessInfo, now time.Time) ProcessView {
	kind := "goroutine"
	switch {
	case p.Entry == ConnectionEntry:
		kind = "connection"
	case p.Reactive:
		kind = "reactive"
	case p.Scheduled:
		kind = "scheduled"
	}
	return ProcessView{PID: p.PID.String(), Host: p.Host, Entry: p.Entry, Names: p.Names, Kind: kind,
		Age: now.Sub(p.Started).Seconds(), MailboxLen: p.MailboxLen, MailboxBytes: p.MailboxBytes,
		Links: p.Links, Monitors: p.Monitors, Watchers: p.Watchers, MessagesIn: p.MessagesIn, MessagesOut: p.MessagesOut}
}

// GroupView is a process group with its members.
type GroupView struct {
	Scope   string   `json:"scope"`
	Group   string   `json:"group"`
	Members []string `json:"members"` // PIDs; each names its node
	Total   int      `json:"total"`   // members, of which Members shows at most MaxMembersShown
}

// MaxMembersShown bounds the members listed per group.
const MaxMembersShown = 200

// Groups returns the process groups with members, on every node (the
// groups are cluster-wide): the first MaxGroupsShown by scope and name,
// each with its first MaxMembersShown members, and MaxViewBytes of
// group names and members in all (a scope may hold 100,000 groups).
func (l Local) Groups() []GroupView {
	out := []GroupView{}
	if l.PG == nil {
		return out
	}
	b := newBudget()
	for _, name := range l.PG.Scopes() {
		sc, ok := l.PG.Scope(name)
		if !ok {
			continue
		}
		for _, g := range sc.Groups() {
			if len(out) == MaxGroupsShown || !b.take(name, g) {
				return out
			}
			ms := sc.Members(g)
			v := GroupView{Scope: name, Group: g, Total: len(ms)}
			for _, m := range ms[:min(len(ms), MaxMembersShown)] {
				s := m.String()
				if !b.take(s) {
					break
				}
				v.Members = append(v.Members, s)
			}
			out = append(out, v)
		}
	}
	return out
}

// NameView is a registered name.
type NameView struct {
	Name  string `json:"name"`
	PID   string `json:"pid"`
	Scope string `json:"scope"` // node
}

// Names returns the names registered on the node, in order: the first
// MaxNamesShown, and MaxViewBytes of them (a node may hold 100,000 names
// of 256 bytes).
func (l Local) Names() NamesView {
	all := l.Node.LocalNames()
	out := NamesView{Node: l.Node.Name(), Names: []NameView{}, Total: len(all)}
	b := newBudget()
	for _, n := range all {
		v := NameView{Name: n.Name, PID: n.PID.String(), Scope: "node"}
		if len(out.Names) == MaxNamesShown || !b.take(v.Name, v.PID, v.Scope) {
			break
		}
		out.Names = append(out.Names, v)
	}
	return out
}

// globalNames is Names for the cluster-wide names.
func (l Local) globalNames() NamesView {
	all := l.Global()
	out := NamesView{Node: "cluster", Names: []NameView{}, Total: len(all)}
	b := newBudget()
	for _, v := range all {
		if len(out.Names) == MaxNamesShown || !b.take(v.Name, v.PID, v.Scope) {
			break
		}
		out.Names = append(out.Names, v)
	}
	return out
}

// api serves a view as JSON, the query taken from the URL.
func (o *Observer) api(view string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := queryOf(r)
		q.bound()
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(o.view(r.Context(), Request{View: view, Query: q}))
	}
}

// equal compares a secret in constant time, its length included
// (ConstantTimeCompare returns at once on different lengths): it
// compares digests of equal length.
func equal(a, b string) bool {
	da, db := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(da[:], db[:]) == 1
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// ConnectionEntry is the entry of the relay's connection processes.
const ConnectionEntry = wsrelay.ProcessEntry

// ProcessDetail is one process: its row, while it lives, and how it
// ended, if it ended abnormally lately (Node.RecentEnds).
type ProcessDetail struct {
	PID   string       `json:"pid"`
	Live  *ProcessView `json:"live,omitempty"`
	Crash *EndView     `json:"crash,omitempty"`
}

// Process returns one process of the node: the page of /processes/<pid>.
func (l Local) Process(q Query) ProcessDetail {
	d := ProcessDetail{PID: q.PID}
	p, err := pid.Parse(q.PID)
	if err != nil {
		return d
	}
	if info, ok := l.Node.Inspect(p); ok {
		v := viewOf(info, time.Now())
		if l.Lua != nil {
			if u, ok := l.Lua(p); ok {
				v.Lua = &u
			}
		}
		d.Live = &v
	}
	for _, e := range l.Node.RecentEnds() {
		if e.PID == p {
			d.Crash = &EndView{PID: e.PID.String(), Entry: e.Entry, Time: e.Time, Error: e.Error}
			break
		}
	}
	return d
}

// EndView is a process that ended abnormally, with its error (for a Lua
// process, the message and the traceback).
type EndView struct {
	PID   string    `json:"pid"`
	Entry string    `json:"entry,omitempty"`
	Time  time.Time `json:"time"`
	Error string    `json:"error"`
}

// Crashes returns the node's last abnormal ends, the latest first. Each
// error is cut to maxCrashJSON bytes as JSON: the node keeps 64 of 8 KiB,
// which escaped ('<' takes six bytes) could be 3 MB.
func (l Local) Crashes() []EndView {
	out := []EndView{}
	for _, e := range l.Node.RecentEnds() {
		out = append(out, EndView{PID: e.PID.String(), Entry: clipJSON(e.Entry, maxEntryJSON), Time: e.Time, Error: clipJSON(e.Error, maxCrashJSON)})
	}
	return out
}

// What a row may take of entry, host and error, as JSON.
const (
	maxEntryJSON = 120
	maxHostJSON  = 60
	maxCrashJSON = 7000
)

// Request is what a page asks for: a view and, for processes, a query.
type Request struct {
	View  string `json:"view"`
	Query Query  `json:"query"`
	// Quiet: a page that only moves its subscription on (a trace's
	// Since) needs no answer before the next round.
	Quiet bool `json:"quiet,omitempty"`
	// Act is an action another node's observer asks this node to carry
	// out (View "act"; never from a page's socket), and From that
	// node's name, as it says, for the log.
	Act  *Action `json:"act,omitempty"`
	From string  `json:"from,omitempty"`
}

// MaxRequest bounds a request's bytes, from a page or another node.
const MaxRequest = 4096

// Answer computes the view a request asks for, as JSON: what a node
// answers another node's observer with (see Cluster). A request that is
// not one is answered with an error.
func (l Local) Answer(req []byte) []byte {
	var r Request
	if len(req) > MaxRequest || json.Unmarshal(req, &r) != nil {
		return []byte(`{"error":"bad request"}`)
	}
	if r.View == "act" && r.Act != nil {
		a := *r.Act
		if err := l.Do(a); err != nil {
			b, _ := json.Marshal(errorView{err.Error()})
			return b
		}
		if l.Logger != nil {
			l.Logger.Warn("observer action", "do", a.Do, "pid", a.PID, "code", a.Code, "reason", clip(a.Reason, wsrelay.MaxReason),
				"topic", clip(a.Topic, 200), "asked_by", clip(r.From, 100))
		}
		return []byte(`{"done":true}`)
	}
	if !knownView(r.View) {
		return []byte(`{"error":"bad request"}`)
	}
	r.Query.bound()
	b, err := json.Marshal(l.view(r))
	if err != nil {
		return []byte(`{"error":"cannot encode the view"}`)
	}
	return b
}

func (l Local) view(r Request) any {
	switch r.View {
	case "processes":
		return l.Processes(r.Query)
	case "groups":
		return l.Groups()
	case "names":
		return l.Names()
	case "crashes":
		return l.Crashes()
	case "process":
		return l.Process(r.Query)
	case "connections":
		return l.Connections(r.Query)
	case "trace":
		return l.Trace(r.Query)
	}
	return l.Overview()
}

func knownView(v string) bool {
	switch v {
	case "overview", "processes", "process", "groups", "names", "crashes", "connections", "trace":
		return true
	}
	return false
}
