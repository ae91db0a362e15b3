package luart

import (
	"time"

	lua "github.com/yuin/gopher-lua"
)

// The methods of time, duration and location values (see mod_time.go).

func (s *state) selfTime(L *lua.LState, fn string) time.Time {
	if ud, ok := L.Get(1).(*lua.LUserData); ok {
		if t, ok := ud.Value.(time.Time); ok {
			return t
		}
	}
	L.RaiseError("t:%s: call it with ':' on a time, as in time.now():%s()", fn, fn)
	return time.Time{}
}

// timeMethod makes a method of a time that returns one value.
func timeMethod(name string, fn func(s *state, L *lua.LState, t time.Time) lua.LValue) lua.LGFunction {
	return bind(func(s *state, L *lua.LState) int {
		L.Push(fn(s, L, s.selfTime(L, name)))
		return 1
	})
}

func num[T ~int | ~int64](v T) lua.LValue { return lua.LNumber(v) }

var timeMethods = map[string]lua.LGFunction{
	"unix":       timeMethod("unix", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return num(t.Unix()) }),
	"unix_milli": timeMethod("unix_milli", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return num(t.UnixMilli()) }),
	"unix_nano":  timeMethod("unix_nano", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return num(t.UnixNano()) }),
	"format": timeMethod("format", func(_ *state, L *lua.LState, t time.Time) lua.LValue {
		return lua.LString(t.Format(checkLayout(L, 2, "t:format", time.RFC3339)))
	}),
	"format_rfc3339": timeMethod("format_rfc3339", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return lua.LString(t.Format(time.RFC3339)) }),
	"add": timeMethod("add", func(s *state, L *lua.LState, t time.Time) lua.LValue {
		d, msg := durationOf(L.Get(2))
		if msg != "" {
			argError(L, 2, "t:add", "duration", msg)
		}
		return s.rt.libs.timeValue(t.Add(d))
	}),
	"sub": timeMethod("sub", func(s *state, L *lua.LState, t time.Time) lua.LValue {
		return s.rt.libs.durationValue(t.Sub(timeArg(L, 2, "t:sub")))
	}),
	"add_date": timeMethod("add_date", func(s *state, L *lua.LState, t time.Time) lua.LValue {
		y, m, d := checkInt64(L, 2, "t:add_date", "years"), checkInt64(L, 3, "t:add_date", "months"), checkInt64(L, 4, "t:add_date", "days")
		if max(y, -y) > 1e6 || max(m, -m) > 1e7 || max(d, -d) > 1e9 {
			L.RaiseError("t:add_date: too far")
		}
		return s.rt.libs.timeValue(t.AddDate(int(y), int(m), int(d)))
	}),
	"before": timeMethod("before", func(_ *state, L *lua.LState, t time.Time) lua.LValue {
		return lua.LBool(t.Before(timeArg(L, 2, "t:before")))
	}),
	"after": timeMethod("after", func(_ *state, L *lua.LState, t time.Time) lua.LValue {
		return lua.LBool(t.After(timeArg(L, 2, "t:after")))
	}),
	"equal": timeMethod("equal", func(_ *state, L *lua.LState, t time.Time) lua.LValue {
		return lua.LBool(t.Equal(timeArg(L, 2, "t:equal")))
	}),
	"year":       timeMethod("year", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return num(t.Year()) }),
	"month":      timeMethod("month", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return num(t.Month()) }),
	"day":        timeMethod("day", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return num(t.Day()) }),
	"hour":       timeMethod("hour", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return num(t.Hour()) }),
	"minute":     timeMethod("minute", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return num(t.Minute()) }),
	"second":     timeMethod("second", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return num(t.Second()) }),
	"nanosecond": timeMethod("nanosecond", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return num(t.Nanosecond()) }),
	"weekday":    timeMethod("weekday", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return num(t.Weekday()) }),
	"year_day":   timeMethod("year_day", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return num(t.YearDay()) }),
	"is_zero":    timeMethod("is_zero", func(_ *state, _ *lua.LState, t time.Time) lua.LValue { return lua.LBool(t.IsZero()) }),
	"utc":        timeMethod("utc", func(s *state, _ *lua.LState, t time.Time) lua.LValue { return s.rt.libs.timeValue(t.UTC()) }),
	"in_local":   timeMethod("in_local", func(s *state, _ *lua.LState, t time.Time) lua.LValue { return s.rt.libs.timeValue(t.Local()) }),
	"in_location": timeMethod("in_location", func(s *state, L *lua.LState, t time.Time) lua.LValue {
		return s.rt.libs.timeValue(t.In(locArg(L, 2, "t:in_location")))
	}),
	"location": timeMethod("location", func(s *state, L *lua.LState, t time.Time) lua.LValue {
		return s.newUserData(L, locationType, t.Location())
	}),
	"round": timeMethod("round", func(s *state, L *lua.LState, t time.Time) lua.LValue {
		return s.rt.libs.timeValue(t.Round(durArg(L, 2)))
	}),
	"truncate": timeMethod("truncate", func(s *state, L *lua.LState, t time.Time) lua.LValue {
		return s.rt.libs.timeValue(t.Truncate(durArg(L, 2)))
	}),
	"date": bind(func(s *state, L *lua.LState) int {
		y, m, d := s.selfTime(L, "date").Date()
		L.Push(num(y))
		L.Push(num(m))
		L.Push(num(d))
		return 3
	}),
	"clock": bind(func(s *state, L *lua.LState) int {
		h, m, sec := s.selfTime(L, "clock").Clock()
		L.Push(num(h))
		L.Push(num(m))
		L.Push(num(sec))
		return 3
	}),
}

func durationMethod(scale float64) lua.LGFunction {
	return func(L *lua.LState) int {
		L.Push(lua.LNumber(float64(durArg(L, 1)) / scale))
		return 1
	}
}

var durationMethods = map[string]lua.LGFunction{
	"hours":        durationMethod(float64(time.Hour)),
	"minutes":      durationMethod(float64(time.Minute)),
	"seconds":      durationMethod(float64(time.Second)),
	"milliseconds": durationMethod(float64(time.Millisecond)),
	"microseconds": durationMethod(float64(time.Microsecond)),
	"nanoseconds":  durationMethod(1),
	"string": func(L *lua.LState) int {
		L.Push(lua.LString(durArg(L, 1).String()))
		return 1
	},
}

var locationMethods = map[string]lua.LGFunction{
	"string": func(L *lua.LState) int {
		L.Push(lua.LString(locArg(L, 1, "loc:string").String()))
		return 1
	},
}
