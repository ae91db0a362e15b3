package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
)

// slowTimeout bounds what waits for JetStream: electing leaders among
// three servers takes seconds, more on a loaded machine.
const slowTimeout = 2 * time.Minute

// runsService is the line a node logs when it starts the cluster's
// instance of a cluster service.
const runsService = `"msg":"this node runs the cluster's instance of the service"`

// embeddedNode is a wsrelay run of the test binary (WSRELAY_TEST_MAIN), one
// node of a cluster of embedded NATS servers, killable for real.
type embeddedNode struct {
	t        *testing.T
	name     string
	cmd      *exec.Cmd
	logs     syncWriter // every line of its stderr
	notJSON  syncWriter // the lines that are not slog's JSON
	exited   chan struct{}
	addr     string // the chat's HTTP address
	killOnce sync.Once
}

// topology is three nodes' ports, store directories and environment.
type topology struct {
	dir, secretFile string
	client, route   [3]int
	store           [3]string
	web             [3]string // the chat's HTTP address of each node ("": any free port)
}

func newTopology(t *testing.T) *topology {
	t.Helper()
	tp := &topology{dir: t.TempDir()}
	if err := os.CopyFS(tp.dir, os.DirFS("../../examples/chat")); err != nil {
		t.Fatal(err)
	}
	// A cluster service beside the chat: one instance in the cluster.
	for name, content := range map[string]string{
		"extra/_index.yaml": `version: "1.0"
namespace: extra
entries:
  - {name: services, kind: process.host}
  - {name: singleton_proc, kind: process.lua, source: file://singleton.lua, method: main}
  - name: singleton
    kind: process.service
    process: singleton_proc
    host: services
    scope: cluster
`,
		"extra/singleton.lua": `return { main = function()
    local inbox = process.inbox()
    while true do
        local _, ok = inbox:receive()
        if not ok then return end
    end
end }`,
	} {
		p := filepath.Join(tp.dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tp.secretFile = filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(tp.secretFile, []byte("a secret of more than sixteen bytes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		tp.client[i], tp.route[i], tp.store[i] = freePort(t), freePort(t), t.TempDir()
	}
	return tp
}

func (tp *topology) routes() string {
	var r []string
	for _, p := range tp.route {
		r = append(r, "nats://127.0.0.1:"+strconv.Itoa(p))
	}
	return strings.Join(r, ",")
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs node i (n1, n2, n3) and returns at once.
func (tp *topology) start(t *testing.T, i int) *embeddedNode {
	t.Helper()
	n := &embeddedNode{t: t, name: "n" + strconv.Itoa(i+1), exited: make(chan struct{})}
	args := fmt.Sprintf("run --log-format json --node %s --nats-listen 127.0.0.1:%d --nats-cluster-listen 127.0.0.1:%d --nats-store %s %s",
		n.name, tp.client[i], tp.route[i], tp.store[i], tp.dir)
	n.cmd = exec.Command(os.Args[0], "-test.run=^$")
	n.cmd.Env = append(os.Environ(), "WSRELAY_TEST_MAIN="+args, "ADDR="+cmp.Or(tp.web[i], "127.0.0.1:0"),
		"WSRELAY_NATS_ROUTES="+tp.routes(), "WSRELAY_CLUSTER_SECRET_FILE="+tp.secretFile, "WSRELAY_CLUSTER_SECRET=", "WSRELAY_NODE=", "WSRELAY_CLUSTER=")
	stderr, err := n.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(n.exited)
		s := bufio.NewScanner(stderr)
		for s.Scan() {
			line := s.Text()
			fmt.Fprintln(&n.logs, line)
			if !json.Valid([]byte(line)) {
				fmt.Fprintln(&n.notJSON, line)
			}
		}
		_ = n.cmd.Wait()
	}()
	t.Cleanup(n.kill)
	return n
}

// ready waits until n serves the chat and has cluster-wide names.
func (n *embeddedNode) ready() {
	n.t.Helper()
	poll.Until(n.t, slowTimeout, n.name+" started, its NATS server current", func() bool {
		l := n.logs.String()
		return strings.Contains(l, `"msg":"started"`) && strings.Contains(l, `"msg":"embedded NATS is current with the cluster`)
	})
	for _, l := range strings.Split(n.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"listening"`) && strings.Contains(l, "chat:gateway") {
			n.addr = jsonAddr.FindStringSubmatch(l)[1]
		}
	}
	if n.addr == "" {
		n.t.Fatalf("%s: no listening line:\n%s", n.name, n.logs.String())
	}
}

// kill ends n with SIGKILL: no goodbye, its NATS server gone with it.
func (n *embeddedNode) kill() {
	n.killOnce.Do(func() {
		_ = n.cmd.Process.Signal(syscall.SIGKILL)
		<-n.exited
	})
}

// stop ends n with SIGTERM and expects a clean exit.
func (n *embeddedNode) stop() {
	n.t.Helper()
	n.killOnce.Do(func() {
		_ = n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
			if !n.cmd.ProcessState.Success() {
				n.t.Errorf("%s: exit %v after SIGTERM:\n%s", n.name, n.cmd.ProcessState, n.logs.String())
			}
		case <-time.After(slowTimeout):
			_ = n.cmd.Process.Signal(syscall.SIGKILL)
			<-n.exited
			n.t.Errorf("%s: no exit after SIGTERM", n.name)
		}
	})
}

func (n *embeddedNode) count(s string) int { return strings.Count(n.logs.String(), s) }

// runsService reports whether n runs the cluster service: n is up and the
// last thing it said of the service is that it runs it (not that it
// stopped its instance: fenced, or the claim taken over).
func (n *embeddedNode) runsService() bool {
	select {
	case <-n.exited:
		return false
	default:
	}
	l := n.logs.String()
	stopped := max(strings.LastIndex(l, `"msg":"this node is cut off from NATS; its instance was terminated`),
		strings.LastIndex(l, `"msg":"another node took the service over`))
	return strings.LastIndex(l, runsService) > stopped
}

// chatClient is a chat page's WebSocket.
type chatClient struct {
	t    *testing.T
	c    *wsclient.Client
	nick string
}

type chatEvent struct {
	Event   string `json:"event"`
	Nick    string `json:"nick"`
	Text    string `json:"text"`
	Members any    `json:"members"`
}

func joinChat(t *testing.T, addr, nick, room string) *chatClient {
	t.Helper()
	cc, err := tryJoinChat(t, addr, nick, room)
	if err != nil {
		t.Fatalf("%s joins %s: %v", nick, room, err)
	}
	return cc
}

// tryJoinChat joins room as nick and waits for the welcome; it fails when
// the chat closes the connection instead (no room: its name could not be
// registered).
func tryJoinChat(t *testing.T, addr, nick, room string) (*chatClient, error) {
	t.Helper()
	u := "ws://" + addr + "/ws/chat?nick=" + url.QueryEscape(nick) + "&room=" + url.QueryEscape(room)
	c, resp, err := wsclient.Dial(u, http.Header{"Origin": {"http://" + addr}})
	if err != nil {
		return nil, fmt.Errorf("%v %+v", err, resp)
	}
	t.Cleanup(func() { c.Close() })
	for {
		s, err := c.ReadText()
		if err != nil {
			return nil, err
		}
		var e chatEvent
		if json.Unmarshal([]byte(s), &e) == nil && e.Event == "welcome" {
			return &chatClient{t: t, c: c, nick: nick}, nil
		}
	}
}

// until reads events until one of the kind (and, if text is not "", of
// that text) arrives.
func (cc *chatClient) until(kind, text string) chatEvent {
	cc.t.Helper()
	for {
		s, err := cc.c.ReadText()
		if err != nil {
			cc.t.Fatalf("%s waiting for %s %q: %v", cc.nick, kind, text, err)
		}
		var e chatEvent
		if err := json.Unmarshal([]byte(s), &e); err != nil {
			cc.t.Fatalf("not JSON: %q", s)
		}
		if e.Event == kind && (text == "" || e.Text == text) {
			return e
		}
	}
}

func (cc *chatClient) say(text string) {
	cc.t.Helper()
	b, _ := json.Marshal(map[string]string{"type": "say", "text": text})
	if err := cc.c.WriteText(string(b)); err != nil {
		cc.t.Fatalf("%s says %q: %v", cc.nick, text, err)
	}
}

// room is a chat room opened on its home node, with a member on every
// other live node.
type room struct {
	home    int
	members map[int]*chatClient
}

// openRooms opens a room on each live node, named after the round.
func openRooms(t *testing.T, nodes []*embeddedNode, live []int, round string) []*room {
	t.Helper()
	var rooms []*room
	for _, h := range live {
		r := &room{home: h, members: map[int]*chatClient{}}
		name := round + "-" + nodes[h].name
		for _, i := range append([]int{h}, slices.DeleteFunc(slices.Clone(live), func(j int) bool { return j == h })...) {
			r.members[i] = joinChat(t, nodes[i].addr, fmt.Sprintf("u%d-%s", i+1, name), name)
		}
		rooms = append(rooms, r)
	}
	return rooms
}

// TestThreeEmbeddedNodesSurviveAKill: three nodes, each embedding a NATS
// server routed to the others', serve the chat and a cluster service.
// Each node in turn, the first started first, is killed (SIGKILL: no
// goodbye, its NATS server gone with it). After each kill, the
// survivors' clients stay connected and their rooms carry messages
// between the survivors, new rooms meet across them (cluster-wide names),
// and the cluster service, if it ran on the lost node, runs again on
// exactly one survivor; the lost node, started again, rejoins and meets
// the others in a new room. Every line each node writes is slog's JSON.
func TestThreeEmbeddedNodesSurviveAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills three nodes")
	}
	tp := newTopology(t)
	nodes := make([]*embeddedNode, 3)
	for i := range nodes {
		nodes[i] = tp.start(t, i)
	}
	for _, n := range nodes {
		n.ready()
	}
	all := slices.Clone(nodes) // every run, for the check of their lines
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range all {
				t.Logf("%s:\n%s", n.name, n.logs.String())
			}
		}
	})
	holder := -1 // the node that runs the cluster service
	// runningOn waits until exactly one node runs the cluster service and
	// returns it. A node may stop its instance and start it again (cut
	// off from NATS for a moment on a loaded machine: it fences itself),
	// so what is checked is one instance at a time, never two.
	runningOn := func(what string) int {
		t.Helper()
		var on []int
		poll.Until(t, slowTimeout, what, func() bool {
			on = on[:0]
			for i, n := range nodes {
				if n.runsService() {
					on = append(on, i)
				}
			}
			return len(on) == 1
		})
		return on[0]
	}
	holder = runningOn("one node runs the cluster service")

	killed := map[int]bool{}
	for round := range 3 {
		victim := 0 // the first started, first
		if round > 0 {
			victim = slices.IndexFunc([]int{0, 1, 2}, func(i int) bool { return !killed[i] })
			if !killed[holder] {
				victim = holder
			}
		}
		killed[victim] = true
		var live []int
		for i := range nodes {
			if i != victim {
				live = append(live, i)
			}
		}
		tag := "r" + strconv.Itoa(round)
		rooms := openRooms(t, nodes, []int{0, 1, 2}, tag)
		ranService := holder == victim
		before, ups := make([]int, 3), make([]int, 3)
		upLine := `"msg":"cluster: node up","node":"` + nodes[victim].name + `"`
		for i, n := range nodes {
			before[i], ups[i] = n.count(runsService), n.count(upLine)
		}

		t.Logf("round %d: killing %s (it runs the cluster service: %v)", round, nodes[victim].name, ranService)
		nodes[victim].kill()
		for _, i := range live {
			n := nodes[i]
			poll.Until(t, slowTimeout, n.name+" sees "+nodes[victim].name+" down", func() bool {
				return strings.Contains(n.logs.String(), `"msg":"cluster: node down","node":"`+nodes[victim].name+`"`)
			})
		}
		// Rooms on survivors carry messages between the survivors'
		// clients, which stayed connected.
		for _, r := range rooms {
			if r.home == victim {
				continue
			}
			text := "after the loss of " + nodes[victim].name
			r.members[r.home].say(text)
			for _, i := range live {
				r.members[i].until("message", text)
			}
		}
		// New rooms meet across the survivors: cluster-wide names work
		// once JetStream has a leader for the names' bucket again (when
		// the lost node's server led it, an election follows, seconds).
		var a *chatClient
		var name string
		attempt := 0
		poll.Until(t, slowTimeout, "a new room can be opened on a survivor", func() bool {
			attempt++
			name = tag + "-after" + strconv.Itoa(attempt)
			var err error
			a, err = tryJoinChat(t, nodes[live[0]].addr, "a-"+name, name)
			return err == nil
		})
		joinChat(t, nodes[live[1]].addr, "b-"+name, name)
		if j := a.until("joined", ""); j.Nick != "b-"+name {
			t.Fatalf("round %d: %s joined the new room, want b-%s", round, j.Nick, name)
		}
		// The cluster service, if it ran on the lost node, starts on a
		// survivor.
		if ranService {
			poll.Until(t, slowTimeout, "a survivor runs the cluster service", func() bool {
				for _, i := range live {
					if nodes[i].count(runsService) > before[i] {
						return true
					}
				}
				return false
			})
		}
		// The lost node comes back and rejoins.
		nodes[victim] = tp.start(t, victim)
		all = append(all, nodes[victim])
		nodes[victim].ready()
		for _, i := range live {
			n := nodes[i]
			poll.Until(t, slowTimeout, n.name+" sees "+nodes[victim].name+" back", func() bool {
				return n.count(upLine) > ups[i]
			})
		}
		name = tag + "-back"
		a = joinChat(t, nodes[victim].addr, "a-"+name, name)
		joinChat(t, nodes[live[0]].addr, "b-"+name, name)
		if j := a.until("joined", ""); j.Nick != "b-"+name {
			t.Fatalf("round %d: %s joined the room on the restarted node, want b-%s", round, j.Nick, name)
		}
		// Checked last, so that a second instance anywhere had time to
		// show.
		if now := runningOn(fmt.Sprintf("round %d: one node runs the cluster service", round)); ranService && now == victim {
			t.Fatalf("round %d: the service runs on %s, started again, and on no survivor", round, nodes[victim].name)
		} else {
			holder = now
		}
	}
	// One after another, each exiting cleanly: the last one alone has no
	// JetStream majority left to release its names and claims with, and
	// leaves them to the bucket's next users.
	for _, n := range nodes {
		n.stop()
	}
	for _, n := range all {
		if raw := n.notJSON.String(); raw != "" {
			t.Errorf("%s wrote lines that are not its logger's:\n%s", n.name, raw)
		}
	}
}
