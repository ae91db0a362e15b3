package wsrelay_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// ownedTarget is a target a handler spawned for one request: its body
// runs the seeds' receive loop (until the inbox reports closed) and keeps
// what it received, in order.
type ownedTarget struct {
	pid    pid.PID
	mu     sync.Mutex
	seen   []string // topics, then "closed" when receive reported closed
	client string   // the client_pid of the ws.join
	ended  chan struct{}
}

func (o *ownedTarget) log() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.seen...)
}

// spawningEnv is an env whose handler spawns a new target for each
// request, marks it owned with wsrelay.Own (as a Lua handler's
// process.spawn does through luart.Options.OnSpawn), and sets the relay
// header with extra header fields and status.
type spawningEnv struct {
	*env
	mu      sync.Mutex
	targets []*ownedTarget
	status  int    // the handler's status; 0: 200
	extra   string // extra header fields, ",..." or ""
	found   pid.PID
	name    string // register the spawned target under this name
	empty   bool   // set the relay header to an empty value
}

func newSpawningEnv(t *testing.T) *spawningEnv {
	se := &spawningEnv{env: newEnv(t, wsrelay.Options{})}
	se.srv.Config.Handler = se.rl.Middleware(http.HandlerFunc(se.serve))
	return se
}

func (se *spawningEnv) serve(w http.ResponseWriter, r *http.Request) {
	o := &ownedTarget{ended: make(chan struct{})}
	id, err := se.node.Spawn(host, func(p *process.Process) (value.Value, error) {
		defer close(o.ended)
		for {
			m, ok := p.Receive(p.Context())
			o.mu.Lock()
			if !ok {
				o.seen = append(o.seen, "closed")
				o.mu.Unlock()
				return value.Nil(), nil
			}
			o.seen = append(o.seen, m.Topic)
			if m.Topic == "ws.join" {
				o.client = str(m, "client_pid")
			}
			o.mu.Unlock()
		}
	}, process.SpawnOptions{})
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	o.pid = id
	if !wsrelay.Own(r.Context(), id) { // as a Go handler does: the target is the connection's
		http.Error(w, "wsrelay.Own: not a relayed request", 500)
		return
	}
	se.mu.Lock()
	se.targets = append(se.targets, o)
	status, extra, found, name, empty := se.status, se.extra, se.found, se.name, se.empty
	se.mu.Unlock()
	if name != "" {
		if err := se.node.Register(name, id); err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
	}
	target := id
	if !found.IsZero() {
		target = found // the handler found a target rather than spawning it
	}
	w.Header().Set(wsrelay.HeaderName, `{"target_pid":"`+target.String()+`"`+extra+`}`)
	if empty {
		w.Header().Set(wsrelay.HeaderName, "")
	}
	if status != 0 {
		w.WriteHeader(status)
	}
}

func (se *spawningEnv) last() *ownedTarget {
	se.mu.Lock()
	defer se.mu.Unlock()
	return se.targets[len(se.targets)-1]
}

func (o *ownedTarget) waitEnd(t *testing.T) {
	t.Helper()
	select {
	case <-o.ended:
	case <-time.After(timeout):
		t.Fatalf("the owned target %v did not end; it saw %v", o.pid, o.log())
	}
}

// TestOwnedTargetEndsWithItsConnection: a target the handler spawned gets
// ws.leave and then finds its inbox closed, however the connection ends,
// so a receive loop ends by itself.
func TestOwnedTargetEndsWithItsConnection(t *testing.T) {
	se := newSpawningEnv(t)
	for _, how := range []string{"client closes", "client vanishes", "server closes", "relay shuts down"} {
		t.Run(how, func(t *testing.T) {
			c := se.dial(t, nil)
			o := se.last()
			poll.Until(t, timeout, "ws.join", func() bool { return len(o.log()) > 0 })
			c.WriteText("hi")
			poll.Until(t, timeout, "ws.message", func() bool { return len(o.log()) > 1 })
			switch how {
			case "client closes":
				c.WriteClose(1000, "")
				c.ReadClose()
			case "client vanishes":
				c.Close()
			case "server closes":
				o.mu.Lock()
				client := o.client
				o.mu.Unlock()
				if err := se.node.SendDest(pid.PID{}, client, "ws.close", value.Nil()); err != nil {
					t.Fatal(err)
				}
				c.ReadClose()
			case "relay shuts down":
				se.rl.Shutdown(t.Context())
			}
			o.waitEnd(t)
			if got := strings.Join(o.log(), " "); got != "ws.join ws.message ws.leave closed" {
				t.Errorf("the target saw %q, want ws.join ws.message ws.leave closed", got)
			}
		})
	}
}

// TestOwnedTargetCancelledWhenNoConnection: when the upgrade never
// happens, the target the handler spawned for it is cancelled.
func TestOwnedTargetCancelledWhenNoConnection(t *testing.T) {
	se := newSpawningEnv(t)
	for _, tc := range []struct {
		name   string
		status int
		extra  string
		do     func(t *testing.T) int // returns the HTTP status the client saw
		empty  bool                   // the handler sets an empty relay header
		want   int                    // the status the client must see; 0: any
		early  bool                   // the relay may refuse before the handler runs
		// the 101 may be written before the reset arrives: the
		// connection then opens and ends at once
		mayOpen bool
	}{
		{name: "plain GET: 426", do: se.plainGet},
		{name: "handler refuses with 403", status: 403, do: se.plainGet},
		{name: "invalid header field", extra: `,"heartbeat_interval":"soon"`, do: se.plainGet},
		{name: "failed handshake", do: se.badHandshake, early: true},
		{name: "empty relay header: 500", empty: true, want: http.StatusInternalServerError, do: se.upgradeStatus},
		{name: "client gone before the answer", do: se.hangUp, mayOpen: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			se.mu.Lock()
			se.status, se.extra, se.empty = tc.status, tc.extra, tc.empty
			before := len(se.targets)
			se.mu.Unlock()
			if got := tc.do(t); tc.want != 0 && got != tc.want {
				t.Errorf("status %d, want %d", got, tc.want)
			}
			if tc.empty && !strings.Contains(se.logs.String(), "invalid X-WS-Relay header") {
				t.Errorf("the log does not name the bad header:\n%s", se.logs.String())
			}
			se.mu.Lock()
			ran := len(se.targets) > before
			se.mu.Unlock()
			if tc.early && !ran {
				return // refused before the handler: nothing was spawned
			}
			poll.Until(t, timeout, "the handler to run", func() bool {
				se.mu.Lock()
				defer se.mu.Unlock()
				return len(se.targets) > before
			})
			o := se.last()
			o.waitEnd(t)
			got := strings.Join(o.log(), " ")
			if got != "closed" && !(tc.mayOpen && got == "ws.join ws.leave closed") {
				t.Errorf("the target saw %q, want only its inbox closed", got)
			}
		})
	}
}

func (se *spawningEnv) plainGet(t *testing.T) int {
	resp, err := http.Get(se.srv.URL + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// rawRequest sends an upgrade request with the given extra header lines.
func (se *spawningEnv) rawRequest(t *testing.T, lines string) net.Conn {
	nc, err := net.Dial("tcp", strings.TrimPrefix(se.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	fmt.Fprintf(nc, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n%s\r\n", strings.TrimPrefix(se.srv.URL, "http://"), lines)
	return nc
}

// badHandshake: an upgrade request with no key and a wrong version.
func (se *spawningEnv) badHandshake(t *testing.T) int {
	nc := se.rawRequest(t, "Sec-WebSocket-Version: 7\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		return 0 // the relay hung up, which is an answer too
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		t.Fatal("a bad handshake was accepted")
	}
	return resp.StatusCode
}

// upgradeStatus: a valid upgrade request; it returns the status of the
// answer.
func (se *spawningEnv) upgradeStatus(t *testing.T) int {
	nc := se.rawRequest(t, "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		t.Fatalf("no answer to an upgrade request: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// hangUp: a valid upgrade request whose client is gone before the answer.
func (se *spawningEnv) hangUp(t *testing.T) int {
	nc := se.rawRequest(t, "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetLinger(0) // a reset, not a polite close
	}
	nc.Close()
	return 0
}

// TestFoundTargetIsNotCancelled: a target the handler found (a hub) is
// never cancelled by the relay, neither when the connection ends nor when
// the upgrade fails.
func TestFoundTargetIsNotCancelled(t *testing.T) {
	se := newSpawningEnv(t)
	hub := se.target(false)
	se.mu.Lock()
	se.found = hub.PID
	se.mu.Unlock()
	c := se.dial(t, nil)
	hub.Next("ws.join")
	c.WriteClose(1000, "")
	c.ReadClose()
	hub.Next("ws.leave")
	se.plainGet(t) // 426: no connection
	// The handler also spawned processes; they are left alone.
	se.mu.Lock()
	defer se.mu.Unlock()
	for _, o := range se.targets {
		if !se.node.Alive(o.pid) {
			t.Errorf("a process the handler spawned but did not relay to was ended")
		}
	}
	hub.Send(hub.PID.String(), "still", value.Nil())
	hub.Next("still") // its inbox is open
	select {
	case ev := <-hub.Events:
		t.Errorf("the hub got %v", ev)
	default:
	}
}

// TestTransferEndsOwnership: after a ws.control transfer neither the old
// target nor the new one is owned: the connection's end cancels neither.
func TestTransferEndsOwnership(t *testing.T) {
	se := newSpawningEnv(t)
	next := se.target(false)
	c := se.dial(t, nil)
	o := se.last()
	poll.Until(t, timeout, "ws.join", func() bool { return len(o.log()) > 0 })
	o.mu.Lock()
	client := o.client
	o.mu.Unlock()
	next.Send(client, "ws.control", value.MustOf(map[string]any{"target_pid": next.PID.String()}))
	next.Next("ws.join")
	c.WriteClose(1000, "")
	c.ReadClose()
	next.Next("ws.leave")
	poll.Until(t, timeout, "the connection to end", func() bool { return se.rl.Connections() == 0 })
	if got := strings.Join(o.log(), " "); got != "ws.join ws.leave" || !se.node.Alive(o.pid) {
		t.Errorf("the old target saw %q (alive %v), want ws.join ws.leave and still running", got, se.node.Alive(o.pid))
	}
	next.Send(next.PID.String(), "still", value.Nil())
	next.Next("still") // the new target's inbox is open
}

// TestNamedTargetIsShared: a target the handler spawned and registered
// under a name (a room started on demand, for others to join) is shared:
// the connection's end does not cancel it, nor does a failed upgrade.
func TestNamedTargetIsShared(t *testing.T) {
	se := newSpawningEnv(t)
	se.mu.Lock()
	se.name = "room:1"
	se.mu.Unlock()
	c := se.dial(t, nil)
	o := se.last()
	poll.Until(t, timeout, "ws.join", func() bool { return len(o.log()) > 0 })
	c.WriteClose(1000, "")
	c.ReadClose()
	poll.Until(t, timeout, "ws.leave", func() bool { return len(o.log()) > 1 })
	poll.Until(t, timeout, "the connection to end", func() bool { return se.rl.Connections() == 0 })
	if got := strings.Join(o.log(), " "); got != "ws.join ws.leave" || !se.node.Alive(o.pid) {
		t.Errorf("the named target saw %q (alive %v), want ws.join ws.leave and still running", got, se.node.Alive(o.pid))
	}
	se.mu.Lock()
	se.name = "room:2"
	se.mu.Unlock()
	se.plainGet(t)
	o = se.last()
	se.node.Send(pid.PID{}, o.pid, "still", value.Nil())
	poll.Until(t, timeout, "the named target to take a message", func() bool { return strings.Join(o.log(), " ") == "still" })
}
