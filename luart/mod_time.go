package luart

import (
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// The time module, as the original runtime has it. time.now() returns a
// time value (userdata) with methods: t:unix(), t:unix_milli(),
// t:unix_nano(), t:format(layout), t:format_rfc3339(), t:add(d),
// t:sub(u) (a duration), t:add_date(y, m, d), t:before(u), t:after(u),
// t:equal(u), t:year() ... t:nanosecond(), t:weekday(), t:year_day(),
// t:date(), t:clock(), t:is_zero(), t:utc(), t:in_local(),
// t:in_location(loc), t:location(), t:round(d), t:truncate(d); times
// compare with < <= ==. time.unix(sec, nsec), time.date(...),
// time.parse(layout, text [, loc]) make times; time.parse_duration(v)
// makes a duration (userdata) with d:hours() ... d:nanoseconds().
//
// A duration argument is a Go duration string ("1.5s", "100ms"), a
// duration value, or a number of nanoseconds, so the constants are in
// nanoseconds: time.sleep(250 * time.MILLISECOND) sleeps a quarter of a
// second. Numbers keep the methods of a time (as Unix seconds) that code
// written when time.now() was a number calls.
//
// A time sent in a message or encoded to JSON is its Unix time in seconds,
// with a fraction; a duration is its number of nanoseconds.
//
// time.after(d) is a channel that receives the time once after d.
// time.timer(d) and time.ticker(d) (processes only) are objects whose
// :channel() (or :response()) receives the time once after d, or every d
// (at least 1ms); :stop() stops them and :reset(d) starts them again. A
// tick that finds the last one not yet received is dropped, as with Go's
// ticker. Every timer of a process stops when the process ends.

const (
	timerType    = "wsrelay.time.timer"
	timeType     = "wsrelay.time.time"
	durationType = "wsrelay.time.duration"
	locationType = "wsrelay.time.location"
	// maxPendingTimers bounds the timers (after, timer, ticker) one state
	// may have waiting at once.
	maxPendingTimers = 4096
	// minTickerPeriod keeps a ticker from spinning a timer goroutine.
	minTickerPeriod = time.Millisecond
	// maxLayout bounds a format or parse layout.
	maxLayout = 256
)

var timeFuncs = map[string]lua.LGFunction{
	"now":            bind(func(s *state, L *lua.LState) int { L.Push(s.rt.libs.timeValue(time.Now())); return 1 }),
	"unix":           bind((*state).timeUnix),
	"date":           bind((*state).timeDate),
	"parse":          bind((*state).timeParse),
	"parse_duration": bind((*state).timeParseDuration),
	"load_location":  bind((*state).timeLoadLocation),
	"fixed_zone":     bind((*state).timeFixedZone),
	"sleep":          bind((*state).timeSleep),
	"after":          bind((*state).timeAfter),
	"timer":          bind(func(s *state, L *lua.LState) int { return s.newTimer(L, "time.timer", false) }),
	"ticker":         bind(func(s *state, L *lua.LState) int { return s.newTimer(L, "time.ticker", true) }),
}

var timeConstants = map[string]lua.LValue{
	"NANOSECOND":   lua.LNumber(time.Nanosecond),
	"MICROSECOND":  lua.LNumber(time.Microsecond),
	"MILLISECOND":  lua.LNumber(time.Millisecond),
	"SECOND":       lua.LNumber(time.Second),
	"MINUTE":       lua.LNumber(time.Minute),
	"HOUR":         lua.LNumber(time.Hour),
	"RFC3339":      lua.LString(time.RFC3339),
	"RFC3339_NANO": lua.LString(time.RFC3339Nano),
	"RFC1123":      lua.LString(time.RFC1123),
	"RFC822":       lua.LString(time.RFC822),
	"ANSIC":        lua.LString(time.ANSIC),
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
	for m := time.January; m <= time.December; m++ {
		t.RawSetString(strings.ToUpper(m.String()), lua.LNumber(m))
	}
	for d := time.Sunday; d <= time.Saturday; d++ {
		t.RawSetString(strings.ToUpper(d.String()), lua.LNumber(d))
	}
	return t
}

// timeMetas adds the time types' metamethods to their metatables, and the
// module's locations (time.utc, time.localtz), which need them.
func (l *libs) timeMetas(b *libBuilder, mod *lua.LTable) {
	for typ, mm := range map[string]map[string]lua.LGFunction{
		timeType: {
			"__eq": func(L *lua.LState) int { L.Push(lua.LBool(timeArg(L, 1, "==").Equal(timeArg(L, 2, "==")))); return 1 },
			"__lt": func(L *lua.LState) int { L.Push(lua.LBool(timeArg(L, 1, "<").Before(timeArg(L, 2, "<")))); return 1 },
			"__le": func(L *lua.LState) int { L.Push(lua.LBool(!timeArg(L, 1, "<=").After(timeArg(L, 2, "<=")))); return 1 },
			"__tostring": func(L *lua.LState) int {
				L.Push(lua.LString(timeArg(L, 1, "tostring").Format(time.RFC3339Nano)))
				return 1
			},
		},
		durationType: {
			"__eq":       func(L *lua.LState) int { L.Push(lua.LBool(durArg(L, 1) == durArg(L, 2))); return 1 },
			"__lt":       func(L *lua.LState) int { L.Push(lua.LBool(durArg(L, 1) < durArg(L, 2))); return 1 },
			"__le":       func(L *lua.LState) int { L.Push(lua.LBool(durArg(L, 1) <= durArg(L, 2))); return 1 },
			"__tostring": func(L *lua.LState) int { L.Push(lua.LString(durArg(L, 1).String())); return 1 },
		},
		locationType: {
			"__tostring": func(L *lua.LState) int { L.Push(lua.LString(locArg(L, 1, "tostring").String())); return 1 },
		},
	} {
		for name, fn := range mm {
			l.metas[typ].RawSetString(name, b.L.NewFunction(fn))
		}
	}
	mod.RawSetString("utc", &lua.LUserData{Value: time.UTC, Metatable: l.metas[locationType]})
	mod.RawSetString("localtz", &lua.LUserData{Value: time.Local, Metatable: l.metas[locationType]})
}

// timeValue makes a time userdata. It needs no state: the timers make
// their ticks on their own goroutines.
func (l *libs) timeValue(t time.Time) *lua.LUserData {
	return &lua.LUserData{Value: t, Metatable: l.metas[timeType]}
}

func (l *libs) durationValue(d time.Duration) *lua.LUserData {
	return &lua.LUserData{Value: d, Metatable: l.metas[durationType]}
}

// timeArg reads argument n, a time (or a number of Unix seconds).
func timeArg(L *lua.LState, n int, fn string) time.Time {
	switch v := L.Get(n).(type) {
	case *lua.LUserData:
		if t, ok := v.Value.(time.Time); ok {
			return t
		}
	case lua.LNumber:
		f := float64(v)
		if !math.IsNaN(f) && !math.IsInf(f, 0) && math.Abs(f) <= 1e12 {
			whole, frac := math.Modf(f)
			return time.Unix(int64(whole), int64(frac*1e9))
		}
	}
	L.RaiseError("%s: argument #%d must be a time (as time.now() returns), got %s", fn, n, describe(L.Get(n)))
	return time.Time{}
}

func durArg(L *lua.LState, n int) time.Duration {
	if ud, ok := L.Get(n).(*lua.LUserData); ok {
		if d, ok := ud.Value.(time.Duration); ok {
			return d
		}
	}
	L.RaiseError("argument #%d must be a duration, got %s", n, describe(L.Get(n)))
	return 0
}

func locArg(L *lua.LState, n int, fn string) *time.Location {
	if ud, ok := L.Get(n).(*lua.LUserData); ok {
		if loc, ok := ud.Value.(*time.Location); ok {
			return loc
		}
	}
	L.RaiseError("%s: argument #%d must be a location (time.utc, time.localtz, time.load_location(name)), got %s", fn, n, describe(L.Get(n)))
	return nil
}

// optLoc reads an optional location argument.
func optLoc(L *lua.LState, n int, fn string, def *time.Location) *time.Location {
	if L.Get(n) == lua.LNil {
		return def
	}
	return locArg(L, n, fn)
}

func checkLayout(L *lua.LState, n int, fn string, def string) string {
	layout := optString(L, n, fn, "layout", def)
	if len(layout) > maxLayout {
		argError(L, n, fn, "layout", "is longer than 256 bytes")
	}
	return layout
}

func (s *state) timeUnix(L *lua.LState) int {
	sec := checkInt64(L, 1, "time.unix", "sec")
	nsec := int64(0)
	if L.Get(2) != lua.LNil {
		nsec = checkInt64(L, 2, "time.unix", "nsec")
	}
	L.Push(s.rt.libs.timeValue(time.Unix(sec, nsec)))
	return 1
}

func (s *state) timeDate(L *lua.LState) int {
	const fn = "time.date"
	var parts [7]int
	for i, name := range []string{"year", "month", "day", "hour", "minute", "second", "nanosecond"} {
		if i >= 3 && L.Get(i+1) == lua.LNil {
			continue
		}
		parts[i] = int(checkInt64(L, i+1, fn, name))
	}
	loc := optLoc(L, 8, fn, time.Local)
	L.Push(s.rt.libs.timeValue(time.Date(parts[0], time.Month(parts[1]), parts[2], parts[3], parts[4], parts[5], parts[6], loc)))
	return 1
}

func (s *state) timeParse(L *lua.LState) int {
	const fn = "time.parse"
	layout := checkLayout(L, 1, fn, "")
	text := checkString(L, 2, fn, "value")
	loc := optLoc(L, 3, fn, time.UTC)
	if len(text) > maxLayout {
		return pushNilErr(L, fn+": the value is longer than 256 bytes")
	}
	t, err := time.ParseInLocation(layout, text, loc)
	if err != nil {
		return pushNilErr(L, fn+": "+err.Error())
	}
	L.Push(s.rt.libs.timeValue(t))
	return 1
}

func (s *state) timeParseDuration(L *lua.LState) int {
	d, err := durationOf(L.Get(1))
	if err != "" {
		return pushNilErr(L, "time.parse_duration: "+err)
	}
	L.Push(s.rt.libs.durationValue(d))
	return 1
}

func (s *state) timeLoadLocation(L *lua.LState) int {
	name := checkString(L, 1, "time.load_location", "name")
	if len(name) > maxLayout {
		return pushNilErr(L, "time.load_location: the name is longer than 256 bytes")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return pushNilErr(L, "time.load_location: "+err.Error())
	}
	L.Push(s.newUserData(L, locationType, loc))
	return 1
}

func (s *state) timeFixedZone(L *lua.LState) int {
	name := checkString(L, 1, "time.fixed_zone", "name")
	off := checkInt64(L, 2, "time.fixed_zone", "offset")
	if off < -24*3600 || off > 24*3600 {
		argError(L, 2, "time.fixed_zone", "offset", "must be within a day (in seconds)")
	}
	L.Push(s.newUserData(L, locationType, time.FixedZone(cutArg(name), int(off))))
	return 1
}

// durationOf reads a duration: a Go duration string, a duration value, or
// a number of nanoseconds; the error text is "" when it is one.
func durationOf(v lua.LValue) (time.Duration, string) {
	switch v := v.(type) {
	case lua.LString:
		d, err := time.ParseDuration(string(v))
		if err != nil {
			return 0, "is not a duration like \"1.5s\" or \"100ms\": " + cutArg(string(v))
		}
		return d, ""
	case lua.LNumber:
		f := float64(v)
		if math.IsNaN(f) || math.Abs(f) >= math.MaxInt64 {
			return 0, "is not a number of nanoseconds"
		}
		return time.Duration(f), ""
	case *lua.LUserData:
		if d, ok := v.Value.(time.Duration); ok {
			return d, ""
		}
	}
	return 0, "must be a duration string like \"1.5s\", a number of nanoseconds (5 * time.SECOND) or a duration, got " + describe(v)
}

// numberMethods are the methods numbers have, as Unix seconds: what code
// written when time.now() was a number calls.
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
		layout := checkLayout(L, 2, "t:format", time.RFC3339)
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

// timeSleep waits for the duration. A process that can yield sets a
// timer that wakes it and holds no goroutine meanwhile (state.await).
func (s *state) timeSleep(L *lua.LState) int {
	d := checkDuration(L, 1, "time.sleep", "duration")
	if t := s.task; t != nil && t.canYield(L) && d > 0 {
		// The timer is one of the state's: a process that ends while it
		// sleeps stops it as its state closes (timerSet.stopAll).
		var fired atomic.Bool
		if _, ok := s.timers.start(d, func() { fired.Store(true); t.wake() }); ok {
			return s.await(L, "time.sleep", true, func() ([]lua.LValue, bool) { return nil, fired.Load() }, nil)
		}
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	done := false
	return s.await(L, "time.sleep", false, func() ([]lua.LValue, bool) { return nil, done }, func() bool {
		select {
		case <-tm.C:
			done = true
			return true
		case <-s.ctx.Done():
			return false
		}
	})
}

// timeAfter returns a channel that receives the time (as time.now gives
// it) once, after the duration.
func (s *state) timeAfter(L *lua.LState) int {
	d := checkDuration(L, 1, "time.after", "duration")
	c := s.newChan(1)
	libs := s.rt.libs
	if _, ok := s.timers.start(d, func() { c.push(libs.timeValue(time.Now())) }); !ok {
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
	timeMeta *lua.LTable    // of the times it delivers

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
	t := &luaTimer{s: s, periodic: periodic, ch: s.newChan(1), d: d, timeMeta: s.rt.libs.metas[timeType]}
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
	t.ch.push(&lua.LUserData{Value: time.Now(), Metatable: t.timeMeta}) // a full channel drops the tick
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
	"response": func(L *lua.LState) int {
		L.Push(checkTimer(L, "timer:response").ud)
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
