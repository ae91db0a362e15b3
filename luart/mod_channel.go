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
// size 0 makes an unbuffered channel, whose send waits until the value is
// received. A send waits (for room, or for its value to be received) only
// where another coroutine of the process could receive: in a process with
// spawned coroutines (coroutine.spawn), from code that can yield. Elsewhere
// nothing could ever make room, so a send on a full channel returns false
// and "channel full", and one on an unbuffered channel returns false and
// says why.

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

	// pushed and taken count the values sent and received; waiters is
	// how many sends wait (for room, or for their value to be taken), so
	// that a receive wakes the process only when one does.
	pushed, taken uint64
	waiters       int
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
	c.taken++
	if c.waiters > 0 && c.wake != nil {
		c.wake() // a send waits for room or for this value
	}
	return v, true, false
}

func (c *lchan) ready() <-chan struct{} { return c.sig }
func (c *lchan) name() string           { return "channel" }

// push appends v and returns its number (pushed, counting from 1); it
// fails on a closed or full channel (an unbuffered one holds the value of
// one waiting send).
func (c *lchan) push(v lua.LValue) (uint64, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, "channel closed"
	}
	if len(c.buf) >= max(c.max, 1) {
		return 0, "channel full (size " + strconv.Itoa(c.max) + ")"
	}
	c.buf = append(c.buf, v)
	c.pushed++
	n := c.pushed
	select {
	case c.sig <- struct{}{}:
	default:
	}
	if c.wake != nil {
		c.wake()
	}
	return n, ""
}

// wasTaken reports whether value number n has been received.
func (c *lchan) wasTaken(n uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.taken >= n
}

// waiting counts a send that starts (d = 1) or stops (-1) waiting.
func (c *lchan) waiting(d int) {
	c.mu.Lock()
	c.waiters += d
	c.mu.Unlock()
}

func (c *lchan) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
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
	"send":         bind((*state).chanSend),
	"close":        chanClose,
	"case_receive": bind((*state).chanCaseReceive),
}

func (s *state) chanNew(L *lua.LState) int {
	size := DefaultChannelSize
	if L.Get(1) != lua.LNil {
		size = checkInt(L, 1, "channel.new", "size")
		if size < 0 {
			argError(L, 1, "channel.new", "size", "must be 0 (unbuffered) or more")
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

// chanSend is ch:send(v): true, or false and why. It waits, where
// another coroutine could receive (see the top of this file), for room in
// a full channel, and on an unbuffered channel until v is received.
func (s *state) chanSend(L *lua.LState) int {
	const fn = "channel:send"
	src := checkSource(L, fn)
	c, ok := src.(*lchan)
	if !ok {
		L.RaiseError("%s: cannot send to the %s; use process.send", fn, src.name())
	}
	L.Charge(16) // a queued value counts in the memory budget (limits.go)
	v := L.Get(2)
	t := s.task
	canWait := t != nil && c.wake != nil && t.spawned != nil && t.spawned.live > 0 && t.canYield(L)
	if c.max == 0 && !canWait {
		L.Push(lua.LFalse)
		L.Push(lua.LString("unbuffered channel: no other coroutine of this process can receive the value now (a send waits for a receive by a coroutine of coroutine.spawn, and only where its wait gives the worker back: see How processes run in docs/lua.md)"))
		return 2
	}
	var n uint64 // the value's number once pushed
	waiting := false
	stop := func(vals ...lua.LValue) ([]lua.LValue, bool) {
		if waiting {
			c.waiting(-1)
		}
		return vals, true
	}
	try := func() ([]lua.LValue, bool) {
		if n == 0 {
			var msg string
			n, msg = c.push(v)
			switch {
			case msg == "" && c.max > 0:
				return stop(lua.LTrue)
			case msg != "" && (!canWait || c.isClosed()):
				return stop(lua.LFalse, lua.LString(msg))
			}
		}
		if n != 0 && c.wasTaken(n) {
			return stop(lua.LTrue)
		}
		if !waiting {
			waiting = true
			c.waiting(1)
		}
		return nil, false
	}
	return s.await(L, "channel:send", true, try, func() bool {
		<-s.ctx.Done() // not reached: a send waits only where it can yield
		return false
	})
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
