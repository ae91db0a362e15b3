package wsrelay

import (
	"sync"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
)

// TestOwnerRunsEveryEventAloneInOrder: events posted from many goroutines
// at once all run, one at a time (a plain counter, touched only by
// events, counts them all: the race detector would see two at once), and
// the events of one poster run in the order it posted them.
func TestOwnerRunsEveryEventAloneInOrder(t *testing.T) {
	var o owner
	const posters, each = 8, 2000
	var (
		ran  int
		last [posters]int
		bad  []string
		wg   sync.WaitGroup
	)
	wg.Add(posters * each)
	for p := range posters {
		go func() {
			for i := 1; i <= each; i++ {
				o.do(func(bool) {
					defer wg.Done()
					ran++
					if last[p] != i-1 {
						bad = append(bad, "out of order")
					}
					last[p] = i
				})
			}
		}()
	}
	wg.Wait()
	done := make(chan struct{})
	o.do(func(bool) { close(done) }) // after every event above
	<-done
	if ran != posters*each || len(bad) > 0 {
		t.Fatalf("ran %d of %d events; %d out of order", ran, posters*each, len(bad))
	}
}

// TestOwnerPostNeverWaits: while one event runs on a goroutine, a post
// from another returns at once without running its event there, and the
// running goroutine runs it before it lets go; an idle owner runs a
// post's event on the poster's own goroutine.
func TestOwnerPostNeverWaits(t *testing.T) {
	var o owner
	release, entered := make(chan struct{}), make(chan struct{})
	var order []string
	ranHere := make(chan bool, 1)
	go func() {
		ranHere <- o.do(func(here bool) {
			close(entered)
			<-release // (only this test's event waits)
			order = append(order, "first")
		})
	}()
	<-entered
	posted := make(chan bool, 1)
	go func() {
		posted <- o.do(func(here bool) {
			if here {
				t.Error("a queued event was told it runs on its poster's goroutine")
			}
			order = append(order, "second")
		})
	}()
	var here bool
	poll.Until(t, 10*time.Second, "a post while another event runs returns", func() bool {
		select {
		case here = <-posted:
			return true
		default:
			return false
		}
	})
	if here {
		t.Fatal("the post ran its event itself while another ran")
	}
	close(release)
	if !<-ranHere {
		t.Fatal("an idle owner did not run the event on its poster's goroutine")
	}
	var got []string
	o.do(func(here bool) {
		if !here {
			t.Error("an idle owner queued the event")
		}
		got = append(got, order...)
	})
	if len(got) != 2 || got[0] != "first" || got[1] != "second" {
		t.Fatalf("events ran as %v", got)
	}
}

// TestOwnerPanicLetsGo: an event that panics lets go of the owner (its
// poster recovers), and what was queued behind it runs at the next post,
// before that post's own event.
func TestOwnerPanicLetsGo(t *testing.T) {
	var o owner
	var order []string
	func() {
		defer func() { _ = recover() }()
		o.do(func(bool) {
			// Queued behind this one, from inside (as a nested post is).
			o.do(func(bool) { order = append(order, "queued") })
			panic("boom")
		})
	}()
	done := make(chan struct{})
	go o.do(func(bool) { order = append(order, "next"); close(done) })
	poll.Until(t, 10*time.Second, "the owner runs again after a panic", func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	})
	if len(order) != 2 || order[0] != "queued" || order[1] != "next" {
		t.Fatalf("after the panic events ran as %v", order)
	}
}
