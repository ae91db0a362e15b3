package observer_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/observer"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const timeout = 30 * time.Second

// start runs an observer over a node with a process host "app" and
// returns both.
func start(t *testing.T, token string) (*observer.Observer, *process.Node) {
	t.Helper()
	return startWith(t, observer.Options{Token: token,
		Counters: func() map[string]float64 { return map[string]float64{"frames_in": 3} }})
}

// waiter spawns a process that waits, its mailbox untouched, until it is
// cancelled.
func waiter(t *testing.T, node *process.Node, name string) pid.PID {
	t.Helper()
	p, err := node.Spawn("app", func(p *process.Process) (value.Value, error) {
		p.ReceiveEvent(p.Context()) // the CANCEL of the node's shutdown
		return value.Nil(), nil
	}, process.SpawnOptions{Name: name, Entry: "app:waiter"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func get(t *testing.T, url string, header http.Header) (int, string) {
	t.Helper()
	return request(t, "GET", url, "", header)
}

// request sends a request with body (JSON, when there is one) and
// returns the answer's status and body.
func request(t *testing.T, method, url, body string, header http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if h := header.Get("Host"); h != "" {
		req.Host = h // the client sends req.Host, not a Host header
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPagesAnswerOnEveryPath: each page's URL serves the page itself, so
// that a reload or a bookmark works.
func TestPagesAnswerOnEveryPath(t *testing.T) {
	o, _ := start(t, "")
	for _, path := range []string{"/", "/processes", "/groups", "/names"} {
		code, body := get(t, "http://"+o.Addr()+path, nil)
		if code != 200 || !strings.Contains(body, "wsrelay observer") {
			t.Errorf("GET %s: %d %.80q", path, code, body)
		}
	}
	if code, _ := get(t, "http://"+o.Addr()+"/nothing", nil); code != 404 {
		t.Errorf("GET /nothing: %d, want 404", code)
	}
	if code, body := get(t, "http://"+o.Addr()+"/assets/app.js", nil); code != 200 || !strings.Contains(body, "textContent") {
		t.Errorf("GET /assets/app.js: %d", code)
	}
}

// TestProcessesFilterSortAndPage: the processes view finds a process by
// its name, sorts by mailbox, and bounds a page whatever is asked.
func TestProcessesFilterSortAndPage(t *testing.T) {
	o, node := start(t, "")
	busy := waiter(t, node, "busy-one")
	waiter(t, node, "idle-one")
	for range 5 {
		if err := node.Send(pid.PID{}, busy, "work", value.String("x")); err != nil {
			t.Fatal(err)
		}
	}
	var page observer.ProcessPage
	getJSON(t, "http://"+o.Addr()+"/api/processes?q=busy", &page)
	if page.Total != 1 || len(page.Rows) != 1 || page.Rows[0].PID != busy.String() || page.Rows[0].MailboxLen != 5 || page.Rows[0].MessagesIn != 5 || page.Rows[0].Entry != "app:waiter" {
		t.Fatalf("filter by name: %+v", page)
	}
	getJSON(t, "http://"+o.Addr()+"/api/processes?sort=mailbox&desc=1", &page)
	if len(page.Rows) < 3 || page.Rows[0].PID != busy.String() {
		t.Fatalf("sorted by mailbox, largest first: %+v", page)
	}
	getJSON(t, "http://"+o.Addr()+"/api/processes?limit=100000&offset=-5", &page)
	if page.Offset != 0 || len(page.Rows) > observer.MaxRows || len(page.Rows) != page.Total {
		t.Fatalf("a page past the bound: offset %d, %d rows of %d", page.Offset, len(page.Rows), page.Total)
	}
	var names []observer.NamesView
	getJSON(t, "http://"+o.Addr()+"/api/names", &names)
	found := false
	for _, n := range names[0].Names {
		found = found || (n.Name == "busy-one" && n.PID == busy.String())
	}
	if !found {
		t.Fatalf("names: %+v", names)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	code, body := get(t, url, nil)
	if code != 200 {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, body)
	}
}

// TestNonLoopbackNeedsToken: the observer refuses to listen on an address
// others can reach unless it has a token, and says what to do.
func TestNonLoopbackNeedsToken(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9100", ":9100", "10.1.2.3:9100", "[::]:9100"} {
		err := observer.CheckAddr(addr, "")
		if !errors.Is(err, observer.ErrNeedsToken) || !strings.Contains(err.Error(), "--observe-token-file") {
			t.Errorf("%s without a token: %v", addr, err)
		}
		if err := observer.CheckAddr(addr, "secret"); err != nil {
			t.Errorf("%s with a token: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:9100", "[::1]:9100", "localhost:9100"} {
		if err := observer.CheckAddr(addr, ""); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	node, _ := process.NewNode(nil)
	defer node.Shutdown(context.Background())
	if _, err := observer.Start(observer.Options{Addr: "0.0.0.0:0", Node: node}); !errors.Is(err, observer.ErrNeedsToken) {
		t.Fatalf("Start on 0.0.0.0 without a token: %v", err)
	}
}

// TestTokenIsRequired: with a token, a request without it is refused; the
// token in the query sets a cookie that later requests carry; a bearer
// header works too.
func TestTokenIsRequired(t *testing.T) {
	o, _ := start(t, "s3cret")
	base := "http://" + o.Addr()
	if code, body := get(t, base+"/api/overview", nil); code != 401 || !strings.Contains(body, "token") {
		t.Fatalf("no token: %d %s", code, body)
	}
	if code, _ := get(t, base+"/?token=wrong", nil); code != 401 {
		t.Fatalf("a wrong token: %d", code)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(base + "/?token=s3cret")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cookies := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || len(cookies) != 1 || !cookies[0].HttpOnly {
		t.Fatalf("?token: %d %v", resp.StatusCode, cookies)
	}
	if code, _ := get(t, base+"/api/overview", http.Header{"Cookie": {cookies[0].Name + "=" + cookies[0].Value}}); code != 200 {
		t.Fatalf("with the cookie: %d", code)
	}
	if code, _ := get(t, base+"/api/overview", http.Header{"Authorization": {"Bearer s3cret"}}); code != 200 {
		t.Fatalf("with the bearer token: %d", code)
	}
	if _, resp, err := wsclient.Dial("ws://"+o.Addr()+"/live", nil); err == nil || resp == nil || resp.Status != 401 {
		t.Fatalf("the live socket without the token: %v %+v", err, resp)
	}
}

// TestLiveViews: a page's WebSocket, relayed to the observer process, gets
// the overview at once and again every second, and the view it asks for;
// a bad request is answered with an error, not a closed page.
func TestLiveViews(t *testing.T) {
	o, node := start(t, "")
	waiter(t, node, "findme")
	c, resp, err := wsclient.Dial("ws://"+o.Addr()+"/live", nil)
	if err != nil {
		t.Fatalf("dial: %v %+v", err, resp)
	}
	defer c.Close()
	var first struct {
		View string                   `json:"view"`
		Data observer.ClusterOverview `json:"data"`
	}
	readJSON(t, c, &first)
	if first.View != "overview" || len(first.Data.Nodes) != 1 {
		t.Fatalf("first update: %+v", first)
	}
	if n := first.Data.Nodes[0]; n.Name != "n1" || !n.Self || !n.Up || n.Overview.Processes < 2 || n.Overview.Counters["frames_in"] != 3 || n.Overview.Counters["messages_in"] < 1 {
		t.Fatalf("first update: %+v", n)
	}
	readJSON(t, c, &first) // the next second's
	if err := c.WriteText(`{"view":"processes","query":{"q":"findme"}}`); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "the processes view", func() bool {
		var m struct {
			View string               `json:"view"`
			Data observer.ProcessPage `json:"data"`
		}
		readJSON(t, c, &m)
		return m.View == "processes" && m.Data.Total == 1 && m.Data.Rows[0].Names[0] == "findme"
	})
	if err := c.WriteText(`{"view":"<script>"}`); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "an error for an unknown view", func() bool {
		_, data, err := c.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		return string(data) == `{"error":"unknown view"}`
	})
}

// TestLivePagesFromOtherOriginsAreRefused: a page of another site cannot
// open the observer's live socket (the relay takes same-origin only).
func TestLivePagesFromOtherOriginsAreRefused(t *testing.T) {
	o, _ := start(t, "")
	_, resp, err := wsclient.Dial("ws://"+o.Addr()+"/live", http.Header{"Origin": {"https://evil.example"}})
	if err == nil || resp == nil || resp.Status != 403 {
		t.Fatalf("cross-origin: %v %+v", err, resp)
	}
}

// TestNoPageNoUpdates: the observer does nothing while no page is open:
// once the last page closes, no update round runs and the node's counters
// are not read again (for several tick periods), and no goroutine is left
// behind.
func TestNoPageNoUpdates(t *testing.T) {
	node, err := process.NewNode(&process.Options{Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	var reads atomic.Int64
	o, err := observer.Start(observer.Options{Addr: "127.0.0.1:0", Node: node,
		Counters: func() map[string]float64 { reads.Add(1); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		o.Close(context.Background())
		node.Shutdown(context.Background())
	}()
	before := leakcheck.Snapshot()
	c, _, err := wsclient.Dial("ws://"+o.Addr()+"/live", nil)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	readJSON(t, c, &m)
	readJSON(t, c, &m)
	c.Close()
	if err := leakcheck.Check(before, timeout); err != nil {
		t.Fatal(err)
	}
	// The page's leave has reached the observer: a tick already armed may
	// still come once; after it, nothing.
	<-time.After(2 * time.Second)
	settled, ticks := reads.Load(), o.Ticks()
	<-time.After(3 * time.Second)
	if n := reads.Load(); n != settled {
		t.Fatalf("with no page open, the counters were read %d more times", n-settled)
	}
	if n := o.Ticks(); n != ticks {
		t.Fatalf("with no page open, %d more update rounds ran", n-ticks)
	}
}

func readJSON(t *testing.T, c *wsclient.Client, v any) {
	t.Helper()
	_, data, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%v: %s", err, data)
	}
}

// TestCrashesView: a process that ended with an error shows on /crashes
// with its entry and its error, markup and all as text.
func TestCrashesView(t *testing.T) {
	o, node := start(t, "")
	p, err := node.Spawn("app", func(p *process.Process) (value.Value, error) {
		return value.Nil(), errors.New("kaboom <b>bold</b>")
	}, process.SpawnOptions{Entry: "app:crasher", Quiet: true})
	if err != nil {
		t.Fatal(err)
	}
	var ends []observer.EndView
	poll.Until(t, timeout, "the crash on /api/crashes", func() bool {
		getJSON(t, "http://"+o.Addr()+"/api/crashes", &ends)
		return len(ends) == 1
	})
	if ends[0].PID != p.String() || ends[0].Entry != "app:crasher" || ends[0].Error != "kaboom <b>bold</b>" {
		t.Fatalf("crash: %+v", ends[0])
	}
	// Its own page: not running, and why.
	var d observer.ProcessDetail
	getJSON(t, "http://"+o.Addr()+"/api/process?pid="+url.QueryEscape(p.String()), &d)
	if d.Live != nil || d.Crash == nil || d.Crash.Error != "kaboom <b>bold</b>" {
		t.Fatalf("the crashed process's page: %+v", d)
	}
	w := waiter(t, node, "alive")
	d = observer.ProcessDetail{}
	getJSON(t, "http://"+o.Addr()+"/api/process?pid="+url.QueryEscape(w.String()), &d)
	if d.Live == nil || d.Live.Names[0] != "alive" || d.Crash != nil {
		t.Fatalf("a live process's page: %+v", d)
	}
}

// TestConnectionsAndTrace: the connections view filters and pages what
// the node's relays list; a trace answers the events after the page's
// last, keeps payloads off without a token, and says when a connection
// is gone.
func TestConnectionsAndTrace(t *testing.T) {
	node, err := process.NewNode(&process.Options{Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Shutdown(context.Background())
	c1, c2 := pid.PID{Node: "n1", Host: "wsrelay", ID: 1}, pid.PID{Node: "n1", Host: "wsrelay", ID: 2}
	conns := func(yield func(observer.ConnInfo) bool) {
		_ = yield(observer.ConnInfo{PID: c1, Remote: "127.0.0.1:5000", Path: "/ws?room=<b>", State: "open", Opened: time.Now(), FramesIn: 3}) &&
			yield(observer.ConnInfo{PID: c2, Remote: "127.0.0.1:6000", Path: "/ws", State: "open", Opened: time.Now(), FramesOut: 9})
	}
	var mu sync.Mutex
	var asked []bool
	tracer := func(client pid.PID, since uint64, payloads bool) (observer.TraceView, bool) {
		if client != c1 {
			return observer.TraceView{}, false
		}
		mu.Lock()
		asked = append(asked, payloads)
		mu.Unlock()
		var v observer.TraceView
		for seq := since + 1; seq <= 3; seq++ {
			v.Events = append(v.Events, observer.TraceEvent{Seq: seq, Kind: "in", Type: "text", Size: 5})
		}
		return v, true
	}
	o, err := observer.Start(observer.Options{Addr: "127.0.0.1:0", Node: node, Conns: conns, Tracer: tracer})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(context.Background())
	base := "http://" + o.Addr()
	var page observer.ConnPage
	getJSON(t, base+"/api/connections?q=room", &page)
	if page.Total != 1 || page.Rows[0].PID != c1.String() || page.Rows[0].Path != "/ws?room=<b>" || page.Rows[0].FramesIn != 3 {
		t.Fatalf("filtered: %+v", page)
	}
	getJSON(t, base+"/api/connections?sort=frames_out&desc=1", &page)
	if page.Total != 2 || page.Rows[0].PID != c2.String() {
		t.Fatalf("sorted: %+v", page)
	}
	var tv observer.TraceView
	getJSON(t, base+"/api/trace?pid="+url.QueryEscape(c1.String())+"&since=1&payloads=1", &tv)
	mu.Lock()
	defer mu.Unlock()
	if len(tv.Events) != 2 || tv.Events[0].Seq != 2 || len(asked) != 1 || asked[0] {
		t.Fatalf("trace after 1 (payloads asked for, no token): %+v %v", tv, asked)
	}
	getJSON(t, base+"/api/trace?pid="+url.QueryEscape(c2.String()), &tv)
	if !tv.Ended || tv.Error == "" {
		t.Fatalf("a connection that is not there: %+v", tv)
	}
	if code, body := get(t, base+"/connections/"+url.PathEscape(c1.String()), nil); code != 200 || !strings.Contains(body, "wsrelay observer") {
		t.Fatalf("the trace page: %d", code)
	}
}
