package wsrelay

import (
	"time"

	"github.com/wsrelay/wsrelay/internal/ratelog"
)

// SetLogClock gives the relay's log limits the clock now, so that a test
// floods them within one second of its own. Call it before the relay
// serves.
func SetLogClock(rl *Relay, now func() time.Time) {
	rl.clientLog = ratelog.NewAt(ratelog.PerSecond, now).Logger(rl.log, clientLines)
	rl.appLog = ratelog.NewAt(ratelog.PerSecond, now).Logger(rl.log, appLines)
}
