package observer_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/pg"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/value"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/observer"
	"github.com/wsrelay/wsrelay/process"
)

// TestRebindingIsRefused: a page of another site whose name was rebound
// to 127.0.0.1 reaches a loopback observer with that name in its Host
// header and, being "same-origin" with it, would read every view and
// act; an observer without a token answers only loopback Host names.
func TestRebindingIsRefused(t *testing.T) {
	o, node := startWith(t, observer.Options{Actions: true})
	victim := waiter(t, node, "victim")
	port := o.Addr()[strings.LastIndex(o.Addr(), ":"):]
	rebound := http.Header{"Host": {"evil.example" + port}, "Origin": {"http://evil.example" + port}}
	for _, path := range []string{"/api/processes", "/api/names", "/", "/api/config"} {
		if code, body := request(t, "GET", "http://"+o.Addr()+path, "", rebound); code != http.StatusMisdirectedRequest || !strings.Contains(body, "loopback") {
			t.Errorf("GET %s with a rebound Host: %d %.100q", path, code, body)
		}
	}
	if code, body := request(t, "POST", "http://"+o.Addr()+"/api/act", `{"do":"kill","pid":"`+victim.String()+`"}`, rebound); code != http.StatusMisdirectedRequest {
		t.Errorf("an action with a rebound Host: %d %q", code, body)
	}
	if !node.Alive(victim) {
		t.Fatal("a page on a rebound name killed a process")
	}
	for _, host := range []string{"localhost" + port, "127.0.0.1" + port} {
		if code, body := request(t, "GET", "http://"+o.Addr()+"/api/config", "", http.Header{"Host": {host}}); code != 200 {
			t.Errorf("Host %s: %d %q", host, code, body)
		}
	}
}

// TestProxiedObserverWithToken: an observer with a token behind a proxy
// on the same machine (which names it as it likes in the Host header)
// serves its pages and their live socket alike.
func TestProxiedObserverWithToken(t *testing.T) {
	o, _ := start(t, "s3cret")
	proxied := http.Header{"Host": {"observer.example"}, "Authorization": {"Bearer s3cret"}}
	if code, body := request(t, "GET", "http://"+o.Addr()+"/api/config", "", proxied); code != 200 {
		t.Fatalf("a page through the proxy: %d %q", code, body)
	}
	c, err := net.Dial("tcp", o.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /live HTTP/1.1\r\nHost: observer.example\r\nAuthorization: Bearer s3cret\r\nOrigin: http://observer.example\r\n"+
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		t.Fatalf("the live socket through the proxy: %q %v", status, err)
	}
}

// fakeCluster is another node that answers every question with answer.
type fakeCluster struct {
	answer func(req []byte) ([]byte, error)
}

func (f fakeCluster) Nodes() []observer.NodeState {
	return []observer.NodeState{{Name: "other", Up: true, LastSeen: time.Now()}}
}

func (f fakeCluster) Ask(ctx context.Context, node string, req []byte) ([]byte, error) {
	return f.answer(req)
}

// startWith runs an observer over a fresh node with a process host
// "app" and opts (Addr and Node set here), and returns both.
func startWith(t *testing.T, opts observer.Options) (*observer.Observer, *process.Node) {
	t.Helper()
	node, err := process.NewNode(&process.Options{Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.AddHost("app", nil); err != nil {
		t.Fatal(err)
	}
	opts.Addr, opts.Node = "127.0.0.1:0", node
	o, err := observer.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		o.Close(ctx)
		node.Shutdown(ctx)
	})
	return o, node
}

// TestRemoteTraceWithoutPayloads: an observer without a token neither
// asks another node for payloads nor shows those the node sends anyway.
func TestRemoteTraceWithoutPayloads(t *testing.T) {
	var asked atomic.Value
	o, _ := startWith(t, observer.Options{Cluster: fakeCluster{func(req []byte) ([]byte, error) {
		asked.Store(string(req))
		return []byte(`{"pid":"{other@wsrelay|1}","events":[{"seq":1,"kind":"in","type":"text","size":6,"payload":"secret"}]}`), nil
	}}})
	var tv observer.TraceView
	getJSON(t, "http://"+o.Addr()+"/api/trace?node=other&payloads=1&pid="+url.QueryEscape("{other@wsrelay|1}"), &tv)
	if len(tv.Events) != 1 || tv.Events[0].Size != 6 || tv.Events[0].Payload != "" {
		t.Fatalf("the other node's trace: %+v", tv)
	}
	if req, _ := asked.Load().(string); strings.Contains(req, "payloads") {
		t.Fatalf("asked for payloads: %s", req)
	}
}

// TestPagesCannotBeForged: a process of the node that sends the
// observer's process ws.join messages of its own making (its PID is on
// the processes page) neither takes the pages' places nor gets their
// views; nor does its ws.leave close a real page's updates.
func TestPagesCannotBeForged(t *testing.T) {
	o, node := start(t, "")
	var hub pid.PID
	node.Processes(func(p process.ProcessInfo) bool {
		if p.Host == observer.Host && p.Entry == "observer" {
			hub = p.PID
		}
		return true
	})
	got := make(chan string, 1)
	forger, err := node.Spawn("app", func(p *process.Process) (value.Value, error) {
		for i := range observer.MaxPages {
			fake := pid.PID{Node: "n1", Host: observer.Host, ID: uint64(1000 + i)}
			p.Send(hub, "ws.join", value.Map(value.Field{Key: "client_pid", Value: value.String(fake.String())}))
		}
		self := value.Map(value.Field{Key: "client_pid", Value: value.String(p.PID().String())})
		p.Send(hub, "ws.join", self)
		p.Send(hub, "ws.message", value.String(`{"view":"names"}`))
		got <- "sent"
		if m, ok := p.Receive(p.Context()); ok {
			got <- m.Topic
		}
		return value.Nil(), nil
	}, process.SpawnOptions{Entry: "app:forger"})
	if err != nil {
		t.Fatal(err)
	}
	<-got
	c, _, err := wsclient.Dial("ws://"+o.Addr()+"/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var m struct {
		View string `json:"view"`
	}
	readJSON(t, c, &m) // not a close 1013: the forged pages took no place
	if m.View != "overview" {
		t.Fatalf("the real page: %+v", m)
	}
	select {
	case topic := <-got:
		t.Fatalf("the forger got a view (%s)", topic)
	default:
	}
	node.Terminate(forger)
}

// TestViewsAreBounded: a node with thousands of long names, many names
// per process and thousands of process groups gives views of bounded
// size, each saying how much it left out, and an answer to another
// node's observer that fits a NATS message.
func TestViewsAreBounded(t *testing.T) {
	o, node := start(t, "")
	long := strings.Repeat("n", 240)
	const procs, perProc = 80, 64 // 5,120 names of 250 bytes: 1.3 MB
	for i := range procs {
		p := waiter(t, node, "")
		for j := range perProc {
			if err := node.Register(fmt.Sprintf("%s-%04d-%02d", long, i, j), p); err != nil {
				t.Fatal(err)
			}
		}
	}
	code, body := get(t, "http://"+o.Addr()+"/api/names", nil)
	var names []observer.NamesView
	if err := json.Unmarshal([]byte(body), &names); code != 200 || err != nil || len(names) != 1 {
		t.Fatalf("names: %d %v %.200s", code, err, body)
	}
	if n := names[0]; n.Total != procs*perProc || len(n.Names) >= procs*perProc || len(n.Names) == 0 || len(body) > observer.MaxViewBytes {
		t.Fatalf("names: %d listed of %d, %d bytes", len(n.Names), n.Total, len(body))
	}
	l := observer.Local{Node: node}
	if a := l.Answer([]byte(`{"view":"names"}`)); len(a) > observer.MaxViewBytes {
		t.Fatalf("the names answer to another node is %d bytes", len(a))
	}

	code, body = get(t, "http://"+o.Addr()+"/api/processes?limit=500&q="+long, nil)
	var page observer.ProcessPage
	if err := json.Unmarshal([]byte(body), &page); code != 200 || err != nil {
		t.Fatalf("processes: %d %v %.200s", code, err, body)
	}
	if page.Total != procs || len(body) > observer.MaxViewBytes {
		t.Fatalf("processes: %d of them, %d bytes", page.Total, len(body))
	}
	if r := page.Rows[0]; len(r.Names) > observer.MaxNamesPerRow || r.NamesTotal != perProc {
		t.Fatalf("a row lists %d names of %d", len(r.Names), r.NamesTotal)
	}
	if a := l.Answer([]byte(`{"view":"processes","query":{"limit":500}}`)); len(a) > observer.MaxViewBytes {
		t.Fatalf("the processes answer to another node is %d bytes", len(a))
	}
	var d observer.ProcessDetail
	getJSON(t, "http://"+o.Addr()+"/api/process?pid="+url.QueryEscape(page.Rows[0].PID), &d)
	if d.Live == nil || len(d.Live.Names) != perProc {
		t.Fatalf("the process's own page lists every name: %+v", d.Live)
	}
}

// TestGroupsViewIsBounded: thousands of groups with hundreds of members
// each give a groups view of bounded size.
func TestGroupsViewIsBounded(t *testing.T) {
	node, err := process.NewNode(&process.Options{Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Shutdown(context.Background())
	node.AddHost("app", nil)
	groups, err := pg.New(pg.Options{Node: node})
	if err != nil {
		t.Fatal(err)
	}
	defer groups.Close()
	sc, err := groups.AddScope("s", pg.ScopeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	members := make([]pid.PID, 100)
	for i := range members {
		members[i] = waiter(t, node, "")
	}
	const ngroups = 900
	names := make([]string, ngroups)
	for i := range names {
		names[i] = fmt.Sprintf("group-%05d", i)
	}
	for _, m := range members {
		if err := sc.Join(m, names...); err != nil {
			t.Fatal(err)
		}
	}
	l := observer.Local{Node: node, PG: groups}
	b, _ := json.Marshal(l.Groups())
	if len(b) > observer.MaxViewBytes {
		t.Fatalf("the groups view is %d bytes", len(b))
	}
}

// floodCluster is a cluster link that lists, each time it is asked, a
// batch of nodes never seen before, all down (made-up heartbeats, which
// the cluster link evicts as more come).
type floodCluster struct{ next atomic.Int64 }

func (f *floodCluster) Nodes() []observer.NodeState {
	var out []observer.NodeState
	for range 500 {
		out = append(out, observer.NodeState{Name: fmt.Sprintf("ghost-%06d", f.next.Add(1)), LastSeen: time.Now()})
	}
	return out
}

func (f *floodCluster) Ask(ctx context.Context, node string, req []byte) ([]byte, error) {
	return nil, errors.New("no such node")
}

// TestNodesSeenAreBounded: the down nodes an observer remembers (those
// its cluster link no longer lists) are bounded, whatever names come
// and go.
func TestNodesSeenAreBounded(t *testing.T) {
	o, _ := startWith(t, observer.Options{Cluster: &floodCluster{}})
	var ov observer.ClusterOverview
	for range 10 {
		getJSON(t, "http://"+o.Addr()+"/api/overview", &ov)
	}
	if n := len(ov.Nodes); n > 1+observer.MaxNodesShown {
		t.Fatalf("the overview lists %d nodes", n)
	}
}

// TestSlowNodeDelaysOnlyItsOwnViews: while another node takes its time
// to answer one page's view, the other pages still get theirs every
// second.
func TestSlowNodeDelaysOnlyItsOwnViews(t *testing.T) {
	release := make(chan struct{})
	var asks atomic.Int64
	o, _ := startWith(t, observer.Options{Cluster: fakeCluster{func(req []byte) ([]byte, error) {
		asks.Add(1)
		<-release // a node that takes as long as the test likes
		return []byte(`{"total":0,"offset":0,"rows":[]}`), nil
	}}})
	t.Cleanup(func() { close(release) }) // before the observer closes (cleanups run last first)
	slow, _, err := wsclient.Dial("ws://"+o.Addr()+"/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if err := slow.WriteText(`{"view":"processes","query":{"node":"other"}}`); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "the slow node asked", func() bool { return asks.Load() >= 1 })
	local, _, err := wsclient.Dial("ws://"+o.Addr()+"/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	if err := local.WriteText(`{"view":"crashes"}`); err != nil {
		t.Fatal(err)
	}
	crashes := 0
	poll.Until(t, timeout, "three updates of the page of this node", func() bool {
		var m struct {
			View string `json:"view"`
		}
		readJSON(t, local, &m)
		if m.View == "crashes" {
			crashes++
		}
		return crashes >= 3
	})
}

// TestTokenLeavesTheAddressBar: a page opened with ?token= is sent on
// to its address without the token (the cookie carries it from then
// on), so that the token stays out of the address bar, the history and
// bookmarks; no answer may be cached.
func TestTokenLeavesTheAddressBar(t *testing.T) {
	o, _ := start(t, "s3cret")
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get("http://" + o.Addr() + "/processes?node=b&token=s3cret")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/processes?node=b" || len(resp.Cookies()) != 1 {
		t.Fatalf("a page with the token: %d %q %v", resp.StatusCode, resp.Header.Get("Location"), resp.Cookies())
	}
	for _, path := range []string{"/processes?node=b", "/api/config", "/api/overview"} {
		req, _ := http.NewRequest("GET", "http://"+o.Addr()+path, nil)
		req.AddCookie(resp.Cookies()[0])
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != 200 || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("GET %s with the cookie: %d, Cache-Control %q", path, r.StatusCode, r.Header.Get("Cache-Control"))
		}
	}
	// A program may keep the token in the URL of what it reads.
	if code, _ := get(t, "http://"+o.Addr()+"/api/config?token=s3cret", nil); code != 200 {
		t.Fatalf("the API with ?token=: %d", code)
	}
}

// TestLocalViewsOneAtATime: however many pages and API requests ask at
// once, this node's views are computed one at a time, so that the
// observer takes at most one core from the node it observes.
func TestLocalViewsOneAtATime(t *testing.T) {
	var active, most, entered atomic.Int64
	release := make(chan struct{})
	o, _ := startWith(t, observer.Options{Counters: func() map[string]float64 {
		entered.Add(1)
		n := active.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		active.Add(-1)
		return nil
	}})
	const requests = 8
	done := make(chan error, requests)
	for range requests {
		go func() {
			resp, err := http.Get("http://" + o.Addr() + "/api/overview")
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
	}
	poll.Until(t, timeout, "a first overview computed", func() bool { return entered.Load() >= 1 })
	for range requests {
		release <- struct{}{}
	}
	for range requests {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	if n := most.Load(); n != 1 {
		t.Fatalf("%d of this node's views were computed at once", n)
	}
}

// TestEscapedViewsAreBounded: text that JSON escapes six times over
// ('<', '&': a query string, an error message) does not take a view of
// 500 connections, 64 crashes or 500 processes past MaxViewBytes, what
// one NATS message carries to another node's observer.
func TestEscapedViewsAreBounded(t *testing.T) {
	path, origin := "/ws?"+strings.Repeat("&", 508), "http://"+strings.Repeat("<", 240)
	conns := func(yield func(observer.ConnInfo) bool) {
		for i := range 500 {
			c := observer.ConnInfo{PID: pid.PID{Node: "n1", Host: "wsrelay", ID: uint64(i + 1)}, Remote: "127.0.0.1:5000", Origin: origin, Path: path, State: "open", Opened: time.Now()}
			if !yield(c) {
				return
			}
		}
	}
	o, node := startWith(t, observer.Options{Conns: conns})
	node.AddHost("app", nil)
	for i := range 64 {
		if _, err := node.Spawn("app", func(p *process.Process) (value.Value, error) {
			return value.Nil(), errors.New(strings.Repeat("<", 9000))
		}, process.SpawnOptions{Entry: fmt.Sprintf("app:crasher-%d", i%8), Quiet: true}); err != nil {
			t.Fatal(err)
		}
	}
	poll.Until(t, timeout, "64 crashes", func() bool { return len(node.RecentEnds()) == 64 })
	entry := strings.Repeat("<", 300)
	for range 500 {
		p, err := node.Spawn("app", func(p *process.Process) (value.Value, error) {
			p.ReceiveEvent(p.Context())
			return value.Nil(), nil
		}, process.SpawnOptions{Entry: entry})
		if err != nil {
			t.Fatal(err)
		}
		_ = p
	}
	for _, path := range []string{"/api/connections?limit=500", "/api/crashes", "/api/processes?limit=500&sort=entry&desc=1"} {
		code, body := get(t, "http://"+o.Addr()+path, nil)
		if code != 200 || len(body) > observer.MaxViewBytes || len(body) < 10000 {
			t.Errorf("GET %s: %d, %d bytes", path, code, len(body))
		}
	}
}

// TestIdleAndSlowConnectionsAreClosed: a connection that keeps quiet
// after its request, or sends an action's body a byte at a time and
// then stops, is closed, so that no one (a token is checked only once
// the headers are in) can hold the node's file descriptors and
// goroutines with connections that do nothing.
func TestIdleAndSlowConnectionsAreClosed(t *testing.T) {
	o, _ := startWith(t, observer.Options{Token: "s3cret", Actions: true})
	page, _, err := wsclient.Dial("ws://"+o.Addr()+"/live", http.Header{"Authorization": {"Bearer s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	defer page.Close()
	closed := func(what string, c net.Conn, r *bufio.Reader) {
		t.Helper()
		c.SetReadDeadline(time.Now().Add(timeout)) // bounds the test only
		_, err := io.ReadAll(r)
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Errorf("%s: still open after %s", what, timeout)
		}
	}
	idle, err := net.Dial("tcp", o.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET /api/config HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(idle)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != 401 {
		t.Fatalf("without the token: %d", resp.StatusCode)
	}
	slow, err := net.Dial("tcp", o.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fmt.Fprintf(slow, "POST /api/act HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nContent-Length: 100\r\n\r\n{")
	sr := bufio.NewReader(slow)
	closed("a connection idle after its request", idle, r)
	closed("an action whose body stopped coming", slow, sr)
	// A page's socket is no such connection: it lives on past the
	// timeouts that closed those, and gets its updates.
	after := time.Now()
	poll.Until(t, timeout, "an update of the page after the timeouts", func() bool {
		var m struct {
			Data observer.ClusterOverview `json:"data"`
		}
		readJSON(t, page, &m)
		return m.Data.Nodes[0].Overview.Time.After(after)
	})
}

// TestAnyTokenMakesAWorkingCookie: a token with bytes a cookie cannot
// carry (';', '"', '\', non-ASCII) still gives a cookie that opens the
// pages.
func TestAnyTokenMakesAWorkingCookie(t *testing.T) {
	const token = `tö;ken "with" \ odd bytes`
	o, _ := startWith(t, observer.Options{Token: token})
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get("http://" + o.Addr() + "/?token=" + url.QueryEscape(token))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if len(resp.Cookies()) != 1 {
		t.Fatalf("cookies: %v", resp.Cookies())
	}
	req, _ := http.NewRequest("GET", "http://"+o.Addr()+"/api/config", nil)
	req.AddCookie(resp.Cookies()[0])
	r, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 200 {
		t.Fatalf("with the cookie: %d", r.StatusCode)
	}
	if strings.Contains(resp.Header.Get("Set-Cookie"), "ken") {
		t.Fatalf("the cookie carries the token itself: %s", resp.Header.Get("Set-Cookie"))
	}
}

// TestOnlyKnownNodesAreAsked: a page or a script naming a node the
// cluster link does not know ("*" or ">", NATS wildcards that would
// reach every node's observer, "a.b") is told so, and nothing is asked.
func TestOnlyKnownNodesAreAsked(t *testing.T) {
	var asked atomic.Value
	o, _ := startWith(t, observer.Options{Actions: true, Cluster: fakeCluster{func(req []byte) ([]byte, error) {
		asked.Store(string(req))
		return []byte(`{"done":true}`), nil
	}}})
	for _, node := range []string{"*", ">", "other.x", "nobody"} {
		code, body := get(t, "http://"+o.Addr()+"/api/processes?node="+url.QueryEscape(node), nil)
		if code != 200 || !strings.Contains(body, "no node") {
			t.Errorf("processes of node %q: %d %s", node, code, body)
		}
		code, body = post(t, "http://"+o.Addr()+"/api/act", `{"do":"kill","pid":"{other@app|1}","node":"`+node+`"}`, nil)
		if code != 400 || !strings.Contains(body, "no node") {
			t.Errorf("an action on node %q: %d %s", node, code, body)
		}
	}
	if q := asked.Load(); q != nil {
		t.Fatalf("asked: %v", q)
	}
	var page observer.ProcessPage
	getJSON(t, "http://"+o.Addr()+"/api/processes?node=other", &page) // a node it knows is asked
	if asked.Load() == nil {
		t.Fatal("the known node was not asked")
	}
}

// TestRemoteActionsAreLoggedWhereDone: an action another node's observer
// asks for is logged on the node that carries it out, with the node
// that asked, not only on the asking one.
func TestRemoteActionsAreLoggedWhereDone(t *testing.T) {
	node, err := process.NewNode(&process.Options{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Shutdown(context.Background())
	node.AddHost("app", nil)
	victim := waiter(t, node, "victim")
	var logs strings.Builder
	var mu sync.Mutex
	l := observer.Local{Node: node, Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil))}
	act := []byte(`{"view":"act","from":"a","act":{"do":"kill","pid":"` + victim.String() + `"}}`)
	// A node whose own observer has actions off carries out none.
	if a := l.Answer(act); !strings.Contains(string(a), "actions are off on this node") || !node.Alive(victim) {
		t.Fatalf("answer with actions off: %s (the victim alive: %t)", a, node.Alive(victim))
	}
	l.Actions = true
	a := l.Answer(act)
	if string(a) != `{"done":true}` {
		t.Fatalf("answer: %s", a)
	}
	mu.Lock()
	defer mu.Unlock()
	if s := logs.String(); !strings.Contains(s, "do=kill") || !strings.Contains(s, "pid="+victim.String()) || !strings.Contains(s, "asked_by=a") {
		t.Fatalf("the log: %q", s)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
