package luart

import (
	"time"

	lua "github.com/yuin/gopher-lua"
)

// The time module: time.now(), time.sleep(d), time.after(d). Durations are
// Go duration strings ("1.5s", "100ms") or numbers of seconds.

var timeFuncs = map[string]lua.LGFunction{
	"now":   timeNow,
	"sleep": bind((*state).timeSleep),
	"after": bind((*state).timeAfter),
}

// timeNow returns the Unix time in seconds, with a fraction.
func timeNow(L *lua.LState) int {
	L.Push(lua.LNumber(float64(time.Now().UnixNano()) / 1e9))
	return 1
}

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
	s.timers.start(d, func() { c.push(lua.LNumber(float64(time.Now().UnixNano()) / 1e9)) })
	L.Push(s.newUserData(L, channelType, c))
	return 1
}
