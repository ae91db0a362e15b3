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

// hub is the observer process: every page's WebSocket is relayed to it.
// A page says which view it shows ({"view": "processes", "query": {...}});
// the hub sends that view at once and then every second while the page
// is open. With no page open it holds no timer and no goroutine.
type hub struct {
	o     *Observer
	pages map[pid.PID]*subscription

	mu    sync.Mutex // guards timer: the timer's func runs outside the process
	timer *time.Timer
	ticks atomic.Uint64 // ticks handled, for Observer.Ticks
}

type subscription struct {
	View  string `json:"view"`
	Query Query  `json:"query"`
}

func newHub(o *Observer) *hub { return &hub{o: o, pages: map[pid.PID]*subscription{}} }

const topicTick = "observer.tick"

func (h *hub) HandleMessage(p *process.Process, m process.Message) error {
	switch m.Topic {
	case topicTick:
		h.ticks.Add(1)
		h.mu.Lock()
		h.timer = nil
		h.mu.Unlock()
		for client, sub := range h.pages {
			h.send(p, client, sub)
		}
		h.arm(p)
	case wsrelay.TopicJoin:
		client, ok := clientOf(m.Payload)
		if !ok {
			return nil
		}
		if len(h.pages) >= MaxPages {
			p.Send(client, wsrelay.TopicClose, value.Map(value.Field{Key: "code", Value: value.Int(1013)}, value.Field{Key: "reason", Value: value.String("too many observer pages open")}))
			return nil
		}
		h.pages[client] = &subscription{View: "overview"}
		h.arm(p)
	case wsrelay.TopicLeave:
		if client, ok := clientOf(m.Payload); ok {
			delete(h.pages, client)
		}
	case wsrelay.DefaultTopic:
		sub := h.pages[m.From]
		if sub == nil {
			return nil
		}
		text, _ := m.Payload.Text()
		var want subscription
		if err := json.Unmarshal([]byte(text), &want); err != nil || !knownView(want.View) {
			p.Send(m.From, wsrelay.TopicSend, value.Map(value.Field{Key: "data", Value: value.String(`{"error":"unknown view"}`)}))
			return nil
		}
		want.Query.bound()
		*sub = want
		h.send(p, m.From, sub)
	}
	return nil
}

func knownView(v string) bool {
	switch v {
	case "overview", "processes", "groups", "names":
		return true
	}
	return false
}

func clientOf(payload value.Value) (pid.PID, bool) {
	v, ok := payload.Get("client_pid")
	if !ok {
		return pid.PID{}, false
	}
	s, _ := v.Text()
	c, err := pid.Parse(s)
	return c, err == nil
}

// send sends a page its view.
func (h *hub) send(p *process.Process, client pid.PID, sub *subscription) {
	var data any
	switch sub.View {
	case "processes":
		data = h.o.processes(sub.Query)
	case "groups":
		data = h.o.groups()
	case "names":
		data = h.o.names()
	default:
		data = h.o.overview()
	}
	b, err := json.Marshal(struct {
		View string `json:"view"`
		Data any    `json:"data"`
	}{sub.View, data})
	if err != nil {
		return
	}
	p.Send(client, wsrelay.TopicSend, value.Map(value.Field{Key: "data", Value: value.String(string(b))}))
}

// arm starts the next tick if a page is open and none is pending.
func (h *hub) arm(p *process.Process) {
	if len(h.pages) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.timer != nil {
		return
	}
	self, node := p.PID(), p.Node()
	h.timer = time.AfterFunc(tickEvery, func() { node.Send(pid.PID{}, self, topicTick, value.Nil()) })
}

func (h *hub) HandleEvent(p *process.Process, e process.Event) error { return nil }

func (h *hub) Terminate(p *process.Process, r process.Result) {
	h.mu.Lock()
	if h.timer != nil {
		h.timer.Stop()
	}
	h.mu.Unlock()
}
