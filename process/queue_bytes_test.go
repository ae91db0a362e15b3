package process

import (
	"math/rand/v2"
	"testing"
)

// TestQueueBytesStayExact: through random pushes (bounded and not), pops
// and a closing drop, the bytes a weighed queue counts are the weights of
// the items it holds, and a sender waiting for room is woken whenever
// the queue has room by both bounds.
func TestQueueBytesStayExact(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	for round := range 50 {
		var q queue[int]
		q.init(16, false)
		q.weigh, q.maxBytes = func(v int) int { return v }, 1000
		var held []int
		sum := func() (n int) {
			for _, v := range held {
				n += v
			}
			return n
		}
		for step := range 400 {
			switch r.IntN(3) {
			case 0, 1:
				v := r.IntN(700) + 1
				limit := q.max
				if r.IntN(8) == 0 {
					limit = 0 // unbounded, as a forced push
				}
				if res, _ := q.pushAt(v, limit); res == pushed {
					held = append(held, v)
				} else if res == pushFull {
					room := q.roomBelow(q.max / 2)
					for range 64 {
						select {
						case <-room:
						default:
							if v, ok, _ := q.pop(); ok {
								if v != held[0] {
									t.Fatalf("round %d step %d: popped %d, want %d", round, step, v, held[0])
								}
								held = held[1:]
								continue
							}
						}
						break
					}
					select {
					case <-room:
					default:
						t.Fatalf("round %d step %d: room not signalled with %d items of %d bytes", round, step, q.n, q.bytes)
					}
				}
			case 2:
				if v, ok, _ := q.pop(); ok {
					if v != held[0] {
						t.Fatalf("round %d step %d: popped %d, want %d", round, step, v, held[0])
					}
					held = held[1:]
				}
			}
			if q.byteLen() != sum() {
				t.Fatalf("round %d step %d: %d bytes counted, items weigh %d", round, step, q.byteLen(), sum())
			}
		}
		q.close(true)
		if q.byteLen() != 0 {
			t.Fatalf("round %d: %d bytes counted after the drop", round, q.byteLen())
		}
	}
}
