package luart

import (
	"reflect"
	"slices"
	"strconv"
	"sync"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/process"
)

// Channels. A Lua process runs on one goroutine, so a channel is a queue
// that the process's own code, timers (time.after) and the runtime (inbox,
// events) fill, and that receive and channel.select wait on.
//
// channel.new(size) holds at most size values (default DefaultChannelSize);
// ch:send on a full channel returns false and "channel full" rather than
// waiting, because nothing else in the process could ever make room.

const (
	channelType = "wsrelay.channel"
	caseType    = "wsrelay.case"
	// DefaultChannelSize is the capacity of channel.new() without a size.
	DefaultChannelSize = 1024
)

// source is anything receive and select can take a value from.
type source interface {
	// poll takes the next value without waiting. got reports a value;
	// closed reports that none will ever come.
	poll() (v lua.LValue, got, closed bool)
	// ready is signalled (or closed) when poll may have something.
	ready() <-chan struct{}
	// name is used in error messages.
	name() string
}

// lchan is a channel made by Lua code or by time.after.
type lchan struct {
	mu     sync.Mutex
	buf    []lua.LValue
	max    int
	closed bool
	sig    chan struct{}
	wake   func() // the owning process's task.wake; nil in a handler
}

func newLChan(size int) *lchan { return &lchan{max: size, sig: make(chan struct{}, 1)} }

// newChan makes a channel of s: one that wakes s's process when filled.
func (s *state) newChan(size int) *lchan {
	c := newLChan(size)
	if s.task != nil {
		c.wake = s.task.wake
	}
	return c
}

func (c *lchan) poll() (lua.LValue, bool, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) == 0 {
		return lua.LNil, false, c.closed
	}
	v := c.buf[0]
	c.buf[0] = nil
	c.buf = c.buf[1:]
	if len(c.buf) == 0 {
		c.buf = nil
	}
	return v, true, false
}

func (c *lchan) ready() <-chan struct{} { return c.sig }
func (c *lchan) name() string           { return "channel" }

// push appends v; it fails on a closed or full channel.
func (c *lchan) push(v lua.LValue) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return "channel closed"
	}
	if len(c.buf) >= c.max {
		return "channel full (size " + strconv.Itoa(c.max) + ")"
	}
	c.buf = append(c.buf, v)
	select {
	case c.sig <- struct{}{}:
	default:
	}
	if c.wake != nil {
		c.wake()
	}
	return ""
}

func (c *lchan) close() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	close(c.sig)
	if c.wake != nil {
		c.wake()
	}
	return true
}

// inboxSource is process.inbox(): messages, as message userdata.
type inboxSource struct {
	s *state
	L *lua.LState
	p *process.Process
}

func (in *inboxSource) poll() (lua.LValue, bool, bool) {
	if r := in.s.router; r != nil { // the process listens (mod_listen.go)
		m, ok, closed := r.take(in.p, nil)
		if !ok {
			return lua.LNil, false, closed
		}
		return in.s.newUserData(in.L, messageType, m), true, false
	}
	m, ok, closed := in.p.TryReceive()
	if !ok {
		return lua.LNil, false, closed
	}
	return in.s.newUserData(in.L, messageType, m), true, false
}
func (in *inboxSource) ready() <-chan struct{} { return in.p.InboxReady() }
func (in *inboxSource) name() string           { return "inbox" }

// eventSource is process.events(): events, as tables.
type eventSource struct {
	L *lua.LState
	p *process.Process
}

func (ev *eventSource) poll() (lua.LValue, bool, bool) {
	return ev.take(ev.p.TryReceiveEvent)
}

// pollAlone is poll for a wait on the events alone (events:receive(), or
// a select without the inbox): an event is not held back behind its
// sender's messages, which that wait cannot see first (see
// process.ReceiveEventAlone).
func (ev *eventSource) pollAlone() (lua.LValue, bool, bool) {
	return ev.take(ev.p.TryReceiveEventAlone)
}

func (ev *eventSource) take(try func() (process.Event, bool, bool)) (lua.LValue, bool, bool) {
	e, ok, closed := try()
	if !ok {
		return lua.LNil, false, closed
	}
	return eventTable(ev.L, e), true, false
}
func (ev *eventSource) ready() <-chan struct{} { return ev.p.EventsReady() }
func (ev *eventSource) name() string           { return "events" }

func (b *libBuilder) channelLib() *lua.LTable {
	return b.funcs(map[string]lua.LGFunction{
		"new":    bind((*state).chanNew),
		"select": bind((*state).chanSelect),
	})
}

var channelMethods = map[string]lua.LGFunction{
	"receive":      bind((*state).chanReceive),
	"send":         chanSend,
	"close":        chanClose,
	"case_receive": bind((*state).chanCaseReceive),
}

func (s *state) chanNew(L *lua.LState) int {
	size := DefaultChannelSize
	if L.Get(1) != lua.LNil {
		size = checkInt(L, 1, "channel.new", "size")
		if size < 1 {
			argError(L, 1, "channel.new", "size", "must be at least 1")
		}
	}
	L.Push(s.newUserData(L, channelType, s.newChan(size)))
	return 1
}

func checkSource(L *lua.LState, fn string) source {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if src, ok := ud.Value.(source); ok {
			return src
		}
	}
	L.RaiseError("%s: call it with ':' on a channel, as in ch:%s()", fn, fn[len("channel:"):])
	return nil
}

// chanReceive waits for a value: value, true; or nil, false once the
// channel is closed and empty (for the inbox: the process was cancelled).
func (s *state) chanReceive(L *lua.LState) int {
	src := checkSource(L, "channel:receive")
	poll := src.poll
	if ev, ok := src.(*eventSource); ok {
		poll = ev.pollAlone // the inbox is not read in this wait
	}
	return s.await(L, "receive", parks(src), func() ([]lua.LValue, bool) {
		v, got, closed := poll()
		if got || closed {
			return []lua.LValue{v, lua.LBool(got)}, true
		}
		return nil, false
	}, func() bool {
		select {
		case <-src.ready():
			return true
		case <-s.ctx.Done():
			return false
		}
	})
}

// parks reports whether src wakes the scheduled process that waits on it,
// so that the wait can yield (see state.await).
func parks(src source) bool {
	switch src := src.(type) {
	case *lchan:
		return src.wake != nil
	case *inboxSource, *eventSource, *listenSource:
		return true // the process's own queues (process.SpawnScheduled)
	case *pgSub:
		return src.wakes
	}
	return false
}

func chanSend(L *lua.LState) int {
	src := checkSource(L, "channel:send")
	c, ok := src.(*lchan)
	if !ok {
		L.RaiseError("channel:send: cannot send to the %s; use process.send", src.name())
	}
	L.Charge(16) // a queued value counts in the memory budget (limits.go)
	if msg := c.push(L.Get(2)); msg != "" {
		L.Push(lua.LFalse)
		L.Push(lua.LString(msg))
		return 2
	}
	L.Push(lua.LTrue)
	return 1
}

func chanClose(L *lua.LState) int {
	src := checkSource(L, "channel:close")
	c, ok := src.(*lchan)
	if !ok {
		L.RaiseError("channel:close: the %s is closed by the runtime, not by code", src.name())
	}
	L.Push(lua.LBool(c.close()))
	return 1
}

// chanCaseReceive returns a case for channel.select.
func (s *state) chanCaseReceive(L *lua.LState) int {
	checkSource(L, "channel:case_receive")
	L.Push(s.newUserData(L, caseType, L.Get(1).(*lua.LUserData)))
	return 1
}

// chanSelect: channel.select{case..., default=bool} waits until one case
// can receive and returns {channel=, value=, ok=}; with default=true and
// nothing ready it returns {default=true} at once. Cases are tried in the
// order given.
func (s *state) chanSelect(L *lua.LState) int {
	const fn = "channel.select"
	t := checkTable(L, 1, fn, "cases")
	var chans []*lua.LUserData
	var srcs []source
	for i := 1; i <= t.Len(); i++ {
		c, ok := t.RawGetInt(i).(*lua.LUserData)
		var ch *lua.LUserData
		if ok {
			ch, ok = c.Value.(*lua.LUserData)
		}
		if !ok {
			argError(L, 1, fn, "cases", "item "+strconv.Itoa(i)+" is not a case (make one with ch:case_receive())")
		}
		chans = append(chans, ch)
		srcs = append(srcs, ch.Value.(source))
	}
	// Events keep their order with messages only in a select that also
	// reads the inbox; without it, they are taken as they come.
	polls := make([]func() (lua.LValue, bool, bool), len(srcs))
	withInbox := slices.ContainsFunc(srcs, func(s source) bool { _, ok := s.(*inboxSource); return ok })
	for i, src := range srcs {
		polls[i] = src.poll
		if ev, ok := src.(*eventSource); ok && !withInbox {
			polls[i] = ev.pollAlone
		}
	}
	def := lua.LVAsBool(t.RawGetString("default"))
	if len(srcs) == 0 && !def {
		argError(L, 1, fn, "cases", "has no cases and no default: it would wait forever")
	}
	try := func() ([]lua.LValue, bool) {
		for i, poll := range polls {
			v, got, closed := poll()
			if got || closed {
				r := L.CreateTable(0, 3)
				r.RawSetString("channel", chans[i])
				r.RawSetString("value", v)
				r.RawSetString("ok", lua.LBool(got))
				return []lua.LValue{r}, true
			}
		}
		if def {
			r := L.CreateTable(0, 1)
			r.RawSetString("default", lua.LTrue)
			return []lua.LValue{r}, true
		}
		return nil, false
	}
	var sel []reflect.SelectCase
	block := func() bool {
		if sel == nil {
			sel = make([]reflect.SelectCase, len(srcs)+1)
			for i, src := range srcs {
				sel[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(src.ready())}
			}
			sel[len(srcs)] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(s.ctx.Done())}
		}
		i, _, _ := reflect.Select(sel)
		return i != len(srcs)
	}
	return s.await(L, "channel.select", !slices.ContainsFunc(srcs, func(src source) bool { return !parks(src) }), try, block)
}
