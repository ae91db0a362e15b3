package wsrelay

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"
)

// recordConn is a network connection that records each write.
type recordConn struct {
	net.Conn
	writes [][]byte
}

func (r *recordConn) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

func (r *recordConn) SetWriteDeadline(time.Time) error { return nil }

// TestSocketBatches: held writes reach the network as one write, in
// order; a batch never grows past batchMax; unheld writes go straight
// through.
func TestSocketBatches(t *testing.T) {
	rec := &recordConn{}
	s := &socket{Conn: rec, timeout: time.Second}
	s.Write([]byte("a"))
	s.holdWrites()
	for _, p := range []string{"b", "c", "d"} {
		s.Write([]byte(p))
	}
	if len(rec.writes) != 1 {
		t.Fatalf("held writes reached the network before the flush: %q", rec.writes)
	}
	if err := s.flush(); err != nil {
		t.Fatal(err)
	}
	if len(rec.writes) != 2 || string(rec.writes[1]) != "bcd" {
		t.Fatalf("writes %q, want [a bcd]", rec.writes)
	}

	rec.writes = nil
	big := strings.Repeat("x", batchMax)
	s.holdWrites()
	s.Write([]byte("1"))
	s.Write([]byte(big)) // too big to collect: what was collected goes first
	s.Write([]byte("2"))
	s.Write([]byte(big[:batchMax-1])) // fits beside "2" exactly
	s.flush()
	got := make([]int, len(rec.writes))
	for i, w := range rec.writes {
		got[i] = len(w)
	}
	want := []int{1, batchMax, batchMax}
	if len(got) != len(want) {
		t.Fatalf("write sizes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("write sizes %v, want %v", got, want)
		}
	}
	var all []byte
	for _, w := range rec.writes {
		all = append(all, w...)
	}
	if string(all) != "1"+big+"2"+big[:batchMax-1] {
		t.Fatal("the bytes changed order")
	}
}
