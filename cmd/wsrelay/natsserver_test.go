package main

import "testing"

// TestRoutedServersCounted: the number of routed servers (which decides
// the names' copies, and so how many must be up at the first start)
// counts this node once, however its listen address and the routes spell
// it: a wildcard listen address or a host name in the routes is no extra
// server.
func TestRoutedServersCounted(t *testing.T) {
	for _, c := range []struct {
		listen, routes string
		want           int
	}{
		{"127.0.0.1:6222", "nats://127.0.0.1:6222,nats://127.0.0.1:6223,nats://127.0.0.1:6224", 3},
		{"0.0.0.0:6222", "nats://10.0.0.1:6222,nats://10.0.0.2:6222", 2},
		{"0.0.0.0:6222", "nats://n1:6222,nats://n2:6222,nats://n3:6222", 3},
		{"127.0.0.1:6222", "nats://localhost:6222,nats://localhost:6223", 2},
		{"127.0.0.1:6222", "nats://127.0.0.1:6223,nats://127.0.0.1:6224", 3}, // this node's own left out
		{"127.0.0.1:6222", "nats://127.0.0.1:6223,nats://127.0.0.1:6223", 2},
	} {
		e := embedded{node: "n1", listen: "127.0.0.1:4222", routes: c.routes, routeListen: c.listen, secret: "a secret of more than sixteen bytes"}
		_, n, err := e.options()
		if err != nil || n != c.want {
			t.Errorf("listen %s, routes %s: %d servers (%v), want %d", c.listen, c.routes, n, err, c.want)
		}
	}
}
