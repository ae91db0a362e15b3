package luart

import (
	"time"

	"github.com/wsrelay/wsrelay/internal/ratelog"
)

// SetLogClock gives the runtime's log limits the clock now, so that a
// test floods them within one second of its own. Call it before any Lua
// code runs.
func SetLogClock(rt *Runtime, now func() time.Time) {
	rt.logLines = ratelog.NewGroupAt(rt.log, logLinesKind, "entry", rt.opts.LogLines, now)
	rt.handlerErrors = ratelog.NewGroupAt(rt.log, handlerErrorsKind, "entry", HandlerErrorLines, now)
}
