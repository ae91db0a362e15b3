package observer

import (
	"cmp"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsrelay/wsrelay/process"
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
}

var memSamples = []string{"/memory/classes/heap/objects:bytes", "/memory/classes/total:bytes", "/gc/cycles/total:gc-cycles", "/sched/goroutines:goroutines"}

func (o *Observer) overview() Overview {
	n := o.opts.Node
	v := Overview{Node: n.Name(), Time: time.Now(), Uptime: time.Since(n.Boot()).Seconds(), Processes: n.Stats().Processes}
	for _, h := range n.Hosts() {
		s := h.Stats()
		v.Hosts = append(v.Hosts, HostView{Name: h.Name(), Live: s.Live, Spawned: s.Spawned, Dropped: s.Dropped})
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
	if o.opts.Counters != nil {
		v.Counters = o.opts.Counters()
	}
	return v
}

// ProcessView is one row of /processes.
type ProcessView struct {
	PID          string   `json:"pid"`
	Host         string   `json:"host"`
	Entry        string   `json:"entry,omitempty"`
	Names        []string `json:"names,omitempty"`
	Kind         string   `json:"kind"` // reactive or goroutine
	Age          float64  `json:"age_s"`
	MailboxLen   int      `json:"mailbox"`
	MailboxBytes int      `json:"mailbox_bytes"`
	Links        int      `json:"links"`
	Monitors     int      `json:"monitors"`
	Watchers     int      `json:"watchers"`
}

// ProcessPage is a page of /processes: Total rows matched the filter.
type ProcessPage struct {
	Total  int           `json:"total"`
	Offset int           `json:"offset"`
	Rows   []ProcessView `json:"rows"`
}

// Query selects the rows of /processes.
type Query struct {
	Q      string `json:"q"`    // a substring of the PID, host, entry or a name
	Sort   string `json:"sort"` // pid, age, mailbox, mailbox_bytes, host, entry
	Desc   bool   `json:"desc"`
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
}

// MaxRows bounds a page of processes, whatever the query asks.
const MaxRows = 500

func queryOf(r *http.Request) Query {
	q := r.URL.Query()
	off, _ := strconv.Atoi(q.Get("offset"))
	lim, _ := strconv.Atoi(q.Get("limit"))
	return Query{Q: q.Get("q"), Sort: q.Get("sort"), Desc: q.Get("desc") == "1" || q.Get("desc") == "true", Offset: off, Limit: lim}
}

func (q *Query) bound() {
	q.Q = clip(q.Q, 200)
	if q.Limit <= 0 || q.Limit > MaxRows {
		q.Limit = min(100, MaxRows)
	}
	q.Offset = max(q.Offset, 0)
}

// processes filters, sorts and pages the node's processes. It walks every
// process once; what it keeps is bounded by the matches, and what it
// returns by MaxRows.
func (o *Observer) processes(q Query) ProcessPage {
	q.bound()
	now := time.Now()
	var all []process.ProcessInfo
	o.opts.Node.Processes(func(p process.ProcessInfo) bool {
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
		}
		return cmp.Compare(a.PID.ID, b.PID.ID)
	}
	slices.SortFunc(all, func(a, b process.ProcessInfo) int {
		c := key(a, b)
		if c == 0 {
			c = cmp.Compare(a.PID.ID, b.PID.ID)
		}
		if q.Desc {
			return -c
		}
		return c
	})
	page := ProcessPage{Total: len(all), Offset: min(q.Offset, len(all))}
	for _, p := range all[page.Offset:min(page.Offset+q.Limit, len(all))] {
		page.Rows = append(page.Rows, viewOf(p, now))
	}
	return page
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
	if p.Reactive {
		kind = "reactive"
	}
	return ProcessView{PID: p.PID.String(), Host: p.Host, Entry: p.Entry, Names: p.Names, Kind: kind,
		Age: now.Sub(p.Started).Seconds(), MailboxLen: p.MailboxLen, MailboxBytes: p.MailboxBytes,
		Links: p.Links, Monitors: p.Monitors, Watchers: p.Watchers}
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

func (o *Observer) groups() []GroupView {
	out := []GroupView{}
	if o.opts.Groups == nil {
		return out
	}
	for _, name := range o.opts.Groups.Scopes() {
		sc, ok := o.opts.Groups.Scope(name)
		if !ok {
			continue
		}
		for _, g := range sc.Groups() {
			ms := sc.Members(g)
			v := GroupView{Scope: name, Group: g, Total: len(ms)}
			for _, m := range ms[:min(len(ms), MaxMembersShown)] {
				v.Members = append(v.Members, m.String())
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

func (o *Observer) names() []NameView {
	out := []NameView{}
	for _, n := range o.opts.Node.LocalNames() {
		out = append(out, NameView{Name: n.Name, PID: n.PID.String(), Scope: "node"})
	}
	return out
}

func (o *Observer) api(view func(*http.Request) any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(view(r))
	}
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
