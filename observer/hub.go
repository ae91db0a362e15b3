package observer

import (
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// MaxPages bounds the pages open on one observer at once; one more is
// closed with 1013.
const MaxPages = 32

// tickEvery is how often open pages get their view again.
const tickEvery = time.Second

// The hub's own topics: a tick of its timer, the end of one view of a
// round of updates, the end of one page's answer.
const (
	topicTick     = "observer.tick"
	topicViewDone = "observer.round"
	topicAnswered = "observer.answered"
)

// hub is the observer process: every page's WebSocket is relayed to it.
// A page says which view it shows (a Request); the hub answers it at once
// and then sends it that view every second while it is open. Views are
// computed off the process (another node's answer may take up to
// AskTimeout), each distinct view of a round on a goroutine of its own,
// so that a slow node delays only the pages that show it: a view still
// being computed is left out of the next rounds until it is done, and a
// page gets one answer at a time; a page that asks again meanwhile gets
// its new view with the next round. So at most 2 × MaxPages views are
// computed at once. With no page open it holds no timer and no
// goroutine.
type hub struct {
	o     *Observer
	self  pid.PID           // set once, before anything can reach it
	pages map[pid.PID]*page // owned by the process, as is computing
	// computing holds the views of a round still being computed, by
	// their JSON (a Request).
	computing map[string]bool

	mu    sync.Mutex // guards timer: the timer's func runs outside the process
	timer *time.Timer
	ticks atomic.Uint64 // rounds started, for Observer.Ticks
}

type page struct {
	req    Request
	asking bool // an answer to the page is being computed
}

func newHub(o *Observer) *hub {
	return &hub{o: o, pages: map[pid.PID]*page{}, computing: map[string]bool{}}
}

func (h *hub) HandleMessage(p *process.Process, m process.Message) error {
	switch m.Topic {
	case topicTick:
		if m.From != h.self {
			// Only its own timer: another process's tick would start
			// a second chain of them, and so on, up to rounds back to
			// back.
			return nil
		}
		h.mu.Lock()
		h.timer = nil
		h.mu.Unlock()
		if len(h.pages) == 0 {
			return nil
		}
		h.ticks.Add(1)
		h.round()
		h.arm()
	case topicViewDone:
		if m.From != h.self {
			return nil
		}
		delete(h.computing, textOf(m.Payload))
	case topicAnswered:
		if m.From != h.self {
			return nil
		}
		if client, err := pid.Parse(textOf(m.Payload)); err == nil && h.pages[client] != nil {
			h.pages[client].asking = false
		}
	case wsrelay.TopicJoin:
		client, ok := h.pageOf(m)
		if !ok {
			return nil
		}
		if len(h.pages) >= MaxPages {
			p.Send(client, wsrelay.TopicClose, value.Map(value.Field{Key: "code", Value: value.Int(1013)}, value.Field{Key: "reason", Value: value.String("too many observer pages open")}))
			return nil
		}
		h.pages[client] = &page{req: Request{View: "overview"}}
		h.arm()
	case wsrelay.TopicLeave:
		if client, ok := h.pageOf(m); ok {
			delete(h.pages, client)
		}
	case wsrelay.DefaultTopic:
		pg := h.pages[m.From]
		if pg == nil {
			return nil
		}
		var r Request
		if err := json.Unmarshal([]byte(textOf(m.Payload)), &r); err != nil || !knownView(r.View) {
			p.Send(m.From, wsrelay.TopicSend, value.Map(value.Field{Key: "data", Value: value.String(`{"error":"unknown view"}`)}))
			return nil
		}
		r.Query.bound()
		quiet := r.Quiet
		r.Quiet = false
		pg.req = r
		if !pg.asking && !quiet {
			pg.asking = true
			client := m.From
			h.o.work(func() {
				h.answer(client, r)
				h.o.opts.Node.Send(h.self, h.self, topicAnswered, value.String(client.String()))
			})
		}
	}
	return nil
}

// round sends every page its view, each distinct request computed once
// on a goroutine of its own, but for those of the last rounds still
// being computed.
func (h *hub) round() {
	views := map[Request][]pid.PID{}
	for client, pg := range h.pages {
		views[pg.req] = append(views[pg.req], client)
	}
	for r, clients := range views {
		k, _ := json.Marshal(r)
		key := string(k)
		if h.computing[key] {
			continue
		}
		h.computing[key] = true
		h.o.work(func() {
			data := value.Map(value.Field{Key: "data", Value: value.String(string(h.encode(r)))})
			for _, client := range clients {
				h.o.opts.Node.Send(h.self, client, wsrelay.TopicSend, data)
			}
			h.o.opts.Node.Send(h.self, h.self, topicViewDone, value.String(key))
		})
	}
}

// answer sends one page its view.
func (h *hub) answer(client pid.PID, r Request) {
	h.o.opts.Node.Send(h.self, client, wsrelay.TopicSend, value.Map(value.Field{Key: "data", Value: value.String(string(h.encode(r)))}))
}

func (h *hub) encode(r Request) []byte {
	b, err := json.Marshal(struct {
		View string `json:"view"`
		Data any    `json:"data"`
	}{r.View, h.o.view(h.o.ctx, r)})
	if err != nil {
		return []byte(`{"error":"cannot encode the view"}`)
	}
	return b
}

func textOf(v value.Value) string {
	s, _ := v.Text()
	return s
}

// pageOf returns the page a ws.join or ws.leave is about: one the
// observer's own relay sent, from the page's connection process. Any
// process that knows the hub's PID (the processes page shows it) may
// send it those topics; one of its own making would take the pages'
// places (MaxPages), get their views, or stop a real page's updates.
func (h *hub) pageOf(m process.Message) (pid.PID, bool) {
	v, ok := m.Payload.Get("client_pid")
	if !ok {
		return pid.PID{}, false
	}
	c, err := pid.Parse(textOf(v))
	if err != nil || c != m.From || c.Host != Host || !h.o.opts.Node.IsLocal(c) {
		return pid.PID{}, false
	}
	return c, true
}

// arm starts the next tick if a page is open and none is pending.
func (h *hub) arm() {
	if len(h.pages) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.timer != nil {
		return
	}
	self, node := h.self, h.o.opts.Node
	h.timer = time.AfterFunc(tickEvery, func() { node.Send(self, self, topicTick, value.Nil()) })
}

func (h *hub) HandleEvent(p *process.Process, e process.Event) error { return nil }

func (h *hub) Terminate(p *process.Process, r process.Result) {
	h.mu.Lock()
	if h.timer != nil {
		h.timer.Stop()
	}
	h.mu.Unlock()
}
