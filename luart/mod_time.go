package luart

import (
	"math"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// The time module. Durations are Go duration strings ("1.5s", "100ms") or
// numbers of seconds, so the constants are in seconds:
// time.sleep(250 * time.MILLISECOND) sleeps a quarter of a second.
//
// time.now() is the Unix time in seconds, with a fraction: a plain number,
// so arithmetic, comparison and JSON work on it as before. Numbers have
// the methods of a time, for code written against time objects:
// t:unix() (whole seconds), t:unix_milli(), t:unix_nano() (precise to a
// microsecond or so: a number is a float64), and t:format(layout) in UTC
// with a Go layout (default time.RFC3339; time.RFC3339_NANO,
// time.DATE_TIME, time.DATE_ONLY, time.TIME_ONLY, time.KITCHEN).
//
// time.after(d) is a channel that receives time.now() once after d.
// time.timer(d) and time.ticker(d) (processes only) are objects whose
// :channel() receives time.now() once after d, or every d (at least 1ms); :stop() stops
// them and :reset(d) starts them again. A tick that finds the last one
// not yet received is dropped, as with Go's ticker. Every timer of a
// process stops when the process ends.

const (
	timerType = "wsrelay.time.timer"
	// maxPendingTimers bounds the timers (after, timer, ticker) one state
	// may have waiting at once.
	maxPendingTimers = 4096
	// minTickerPeriod keeps a ticker from spinning a timer goroutine.
	minTickerPeriod = time.Millisecond
)

var timeFuncs = map[string]lua.LGFunction{
	"now":    timeNow,
	"sleep":  bind((*state).timeSleep),
	"after":  bind((*state).timeAfter),
	"timer":  bind(func(s *state, L *lua.LState) int { return s.newTimer(L, "time.timer", false) }),
	"ticker": bind(func(s *state, L *lua.LState) int { return s.newTimer(L, "time.ticker", true) }),
}

var timeConstants = map[string]lua.LValue{
	"NANOSECOND":   lua.LNumber(1e-9),
	"MICROSECOND":  lua.LNumber(1e-6),
	"MILLISECOND":  lua.LNumber(1e-3),
	"SECOND":       lua.LNumber(1),
	"MINUTE":       lua.LNumber(60),
	"HOUR":         lua.LNumber(3600),
	"RFC3339":      lua.LString(time.RFC3339),
	"RFC3339_NANO": lua.LString(time.RFC3339Nano),
	"DATE_TIME":    lua.LString(time.DateTime),
	"DATE_ONLY":    lua.LString(time.DateOnly),
	"TIME_ONLY":    lua.LString(time.TimeOnly),
	"KITCHEN":      lua.LString(time.Kitchen),
}

// timeLib is the time module table: functions and constants.
func (b *libBuilder) timeLib() *lua.LTable {
	t := b.funcs(timeFuncs)
	for k, v := range timeConstants {
		t.RawSetString(k, v)
	}
	return t
}

// numberMethods are the methods numbers have (see the top of the file).
var numberMethods = map[string]lua.LGFunction{
	"unix": func(L *lua.LState) int {
		L.Push(lua.LNumber(math.Floor(checkTime(L, "t:unix"))))
		return 1
	},
	"unix_milli": func(L *lua.LState) int {
		L.Push(lua.LNumber(math.Floor(checkTime(L, "t:unix_milli") * 1e3)))
		return 1
	},
	"unix_nano": func(L *lua.LState) int {
		L.Push(lua.LNumber(math.Floor(checkTime(L, "t:unix_nano") * 1e9)))
		return 1
	},
	"format": func(L *lua.LState) int {
		sec := checkTime(L, "t:format")
		layout := optString(L, 2, "t:format", "layout", time.RFC3339)
		if len(layout) > 256 {
			argError(L, 2, "t:format", "layout", "is longer than 256 bytes")
		}
		whole, frac := math.Modf(sec)
		L.Push(lua.LString(time.Unix(int64(whole), int64(frac*1e9)).UTC().Format(layout)))
		return 1
	},
}

func checkTime(L *lua.LState, fn string) float64 {
	n, ok := L.Get(1).(lua.LNumber)
	if !ok {
		L.RaiseError("%s: call it with ':' on a time, as in time.now():unix()", fn)
	}
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e12 {
		L.RaiseError("%s: %v is not a Unix time in seconds", fn, f)
	}
	return f
}

// timeNow returns the Unix time in seconds, with a fraction.
func timeNow(L *lua.LState) int {
	L.Push(nowNumber())
	return 1
}

func nowNumber() lua.LNumber { return lua.LNumber(float64(time.Now().UnixNano()) / 1e9) }

func (s *state) timeSleep(L *lua.LState) int {
	d := checkDuration(L, 1, "time.sleep", "duration")
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.ctx.Done():
		s.interrupted(L, "time.sleep")
	}
	return 0
}

// timeAfter returns a channel that receives the time (as time.now gives
// it) once, after the duration.
func (s *state) timeAfter(L *lua.LState) int {
	d := checkDuration(L, 1, "time.after", "duration")
	c := newLChan(1)
	if _, ok := s.timers.start(d, func() { c.push(nowNumber()) }); !ok {
		L.RaiseError("time.after: %d timers are already pending (the most is %d)", maxPendingTimers, maxPendingTimers)
	}
	L.Push(s.newUserData(L, channelType, c))
	return 1
}

// luaTimer is what time.timer and time.ticker return.
type luaTimer struct {
	s        *state
	periodic bool
	ch       *lchan
	ud       *lua.LUserData // the channel, as Lua sees it

	mu      sync.Mutex
	d       time.Duration
	pending bool   // a fire is scheduled
	cancel  func() // cancels it
}

func (s *state) newTimer(L *lua.LState, fn string, periodic bool) int {
	s.self(L, fn) // a handler's state outlives its request: processes only
	d := checkDuration(L, 1, fn, "duration")
	if periodic && d < minTickerPeriod {
		argError(L, 1, fn, "duration", "must be at least 1ms")
	}
	t := &luaTimer{s: s, periodic: periodic, ch: newLChan(1), d: d}
	t.ud = s.newUserData(L, channelType, t.ch)
	t.mu.Lock()
	ok := t.arm()
	t.mu.Unlock()
	if !ok {
		L.RaiseError("%s: %d timers are already pending (the most is %d)", fn, maxPendingTimers, maxPendingTimers)
	}
	L.Push(s.newUserData(L, timerType, t))
	return 1
}

// arm schedules the next fire; t.mu is held.
func (t *luaTimer) arm() bool {
	cancel, ok := t.s.timers.start(t.d, t.fire)
	t.pending, t.cancel = ok, cancel
	return ok
}

func (t *luaTimer) fire() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.pending {
		return // stopped meanwhile
	}
	t.ch.push(nowNumber()) // a full channel drops the tick
	t.pending = false
	if t.periodic {
		t.arm() // fails only once the state is closed: then it stays stopped
	}
}

// stop stops t and reports whether it was pending.
func (t *luaTimer) stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.pending
	if t.cancel != nil {
		t.cancel()
	}
	t.pending = false
	return was
}

func checkTimer(L *lua.LState, fn string) *luaTimer {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if t, ok := ud.Value.(*luaTimer); ok {
			return t
		}
	}
	L.RaiseError("%s: call it with ':' on a timer, as in t:%s()", fn, fn[len("timer:"):])
	return nil
}

var timerMethods = map[string]lua.LGFunction{
	"channel": func(L *lua.LState) int {
		L.Push(checkTimer(L, "timer:channel").ud)
		return 1
	},
	"stop": func(L *lua.LState) int {
		L.Push(lua.LBool(checkTimer(L, "timer:stop").stop()))
		return 1
	},
	"reset": func(L *lua.LState) int {
		t := checkTimer(L, "timer:reset")
		d := checkDuration(L, 2, "timer:reset", "duration")
		if t.periodic && d < minTickerPeriod {
			argError(L, 2, "timer:reset", "duration", "must be at least 1ms for a ticker")
		}
		was := t.stop()
		t.mu.Lock()
		t.d = d
		ok := t.arm()
		t.mu.Unlock()
		if !ok {
			L.RaiseError("timer:reset: %d timers are already pending (the most is %d)", maxPendingTimers, maxPendingTimers)
		}
		L.Push(lua.LBool(was))
		return 1
	},
}
