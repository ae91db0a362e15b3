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
