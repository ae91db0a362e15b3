package wsrelay

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/wsrelay/wsrelay/pid"
)

// Detach detaches the socket of the relay's connection whose client PID
// is p (conn.detach).
func Detach(rl *Relay, p pid.PID, limit time.Duration) error {
	c := rl.byPID(p)
	if c == nil {
		return errors.New("no such connection")
	}
	return c.detach(limit)
}

// Attach answers the WebSocket handshake r and attaches its socket to
// the relay's connection whose client PID is p (conn.attach); a socket
// refused is closed.
func Attach(ctx context.Context, rl *Relay, p pid.PID, w http.ResponseWriter, r *http.Request) error {
	c := rl.byPID(p)
	if c == nil {
		return errors.New("no such connection")
	}
	sock, in, watch, err := rl.upgrade(w, r)
	if err != nil {
		return err
	}
	if err := c.attach(ctx, sock, in, watch); err != nil {
		_ = sock.Close()
		return err
	}
	return nil
}

// HoldOwner runs an event on the owner of the relay's connection whose
// client PID is p that waits until release is called (only a test's
// event waits), and returns once it runs: meanwhile whatever is posted to
// that owner is queued.
func HoldOwner(rl *Relay, p pid.PID) (release func()) {
	c := rl.byPID(p)
	entered, rel := make(chan struct{}), make(chan struct{})
	go c.own.do(func(bool) {
		close(entered)
		<-rel
	})
	<-entered
	return func() { close(rel) }
}
