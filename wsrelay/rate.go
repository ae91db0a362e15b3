package wsrelay

import "time"

// rateBound bounds how much of something one client may make the relay
// do per second: a bucket of size tokens, refilled continuously at per
// tokens a second, from which each unit of work takes its cost. A client
// within the rate never runs dry; one that stays above it for longer
// than the bucket lasts does, and is closed (see inbound.check and
// inbound.fillHold). A zero per bounds nothing.
//
// Why this bounds the work: over any interval of t seconds the client
// takes at most size + per·t tokens, so the relay does at most that much
// of the work for it before it closes the connection.
type rateBound struct {
	per  float64 // tokens a second; 0: no bound
	size float64 // the bucket: the most taken at once
	left float64
	last int64 // unix nanoseconds of the last take; 0: none yet
}

func newRateBound(per, size int) rateBound {
	if per <= 0 {
		return rateBound{}
	}
	return rateBound{per: float64(per), size: float64(max(per, size)), left: float64(max(per, size))}
}

// take takes n tokens at now; it reports false, taking nothing, when the
// bucket holds fewer.
func (r *rateBound) take(n int64, now time.Time) bool {
	if r.per == 0 {
		return true
	}
	t := now.UnixNano()
	if r.last != 0 {
		r.left = min(r.size, r.left+time.Duration(t-r.last).Seconds()*r.per)
	}
	r.last = t
	if float64(n) > r.left {
		return false
	}
	r.left -= float64(n)
	return true
}
