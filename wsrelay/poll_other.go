//go:build !linux

package wsrelay

import "net"

// poller: sockets are watched for readiness on Linux only
// (poll_linux.go); elsewhere every connection's reader has a goroutine of
// its own.
type poller struct {
	loops running
}

type watch struct{}

func (rl *Relay) watchConn(nc net.Conn) (net.Conn, *watch) { return nc, nil }

func (w *watch) start(*Relay, *conn, *inbound) {}
