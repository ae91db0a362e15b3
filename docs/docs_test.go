// Package docs_test keeps the documentation honest: every Lua, YAML and
// Go snippet in the Markdown must be part of a file that a test loads and
// runs (the apps under snippets/, or a tested Example), and those apps are
// started and driven here.
package docs_test

import (
	"bufio"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/leakcheck"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
)

func TestMain(m *testing.M) { leakcheck.Main(m) }

const timeout = 30 * time.Second

// block is a fenced code block of a Markdown file.
type block struct {
	file string
	line int
	lang string
	text []string
}

func blocks(t *testing.T, files []string) []block {
	t.Helper()
	var out []block
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		s := bufio.NewScanner(fh)
		var cur *block
		n := 0
		for s.Scan() {
			n++
			line := s.Text()
			switch {
			case cur == nil && strings.HasPrefix(line, "```"):
				cur = &block{file: f, line: n + 1, lang: strings.TrimPrefix(line, "```")}
			case cur != nil && line == "```":
				out = append(out, *cur)
				cur = nil
			case cur != nil:
				cur.text = append(cur.text, line)
			}
		}
		fh.Close()
	}
	return out
}

// contains reports whether the block's lines appear in order in lines,
// each with the same extra indentation.
func contains(lines, blk []string) bool {
	for i := range lines {
		if i+len(blk) > len(lines) {
			return false
		}
		indent, ok := "", true
		for k, want := range blk {
			got := lines[i+k]
			if want == "" {
				if strings.TrimSpace(got) != "" {
					ok = false
					break
				}
				continue
			}
			if k == 0 || indent == "" && !strings.HasSuffix(got, want) {
				if !strings.HasSuffix(got, want) || strings.TrimSpace(strings.TrimSuffix(got, want)) != "" {
					ok = false
					break
				}
				indent = strings.TrimSuffix(got, want)
				continue
			}
			if got != indent+want {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// sources returns the lines of the files a block of lang may come from.
func sources(t *testing.T, lang string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	add := func(root string, keep func(string) bool) {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !keep(p) {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			out[p] = strings.Split(strings.TrimRight(string(b), "\n"), "\n")
			return nil
		})
	}
	switch lang {
	case "lua":
		add("snippets", func(p string) bool { return strings.HasSuffix(p, ".lua") })
	case "yaml":
		add("snippets", func(p string) bool { return strings.HasSuffix(p, ".yaml") })
	case "go":
		add("..", func(p string) bool { return strings.HasSuffix(p, "example_test.go") })
	}
	return out
}

// TestSnippetsAreTested: every lua, yaml and go block of the docs (and the
// README) is part of a file that the tests below, or an Example, run.
func TestSnippetsAreTested(t *testing.T) {
	files, _ := filepath.Glob("*.md")
	files = append(files, "../README.md")
	checked := 0
	for _, b := range blocks(t, files) {
		switch b.lang {
		case "lua", "yaml", "go":
		default:
			continue
		}
		checked++
		found := false
		for _, lines := range sources(t, b.lang) {
			if contains(lines, b.text) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s:%d: this %s snippet is in no file that a test runs (put it in docs/snippets or an Example)", b.file, b.line, b.lang)
		}
	}
	if checked < 15 {
		t.Errorf("only %d snippets found: is the extraction broken?", checked)
	}
}

func startApp(t *testing.T, dir string) *gateway.App {
	app, _ := apptest.Start(t, dir)
	return app
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestGettingStartedApp(t *testing.T) {
	app := startApp(t, "snippets/getting-started")
	addr, _ := app.Addr("hello:gateway")
	checkHello(t, addr.String())
}

// checkHello checks the getting-started app served at base: its HTTP
// route answers and its WebSocket echoes.
func checkHello(t *testing.T, base string) {
	t.Helper()
	if code, body := get(t, "http://"+base+"/hello/world"); code != 200 || body != `{"hello":"world"}` {
		t.Errorf("GET /hello/world = %d %q", code, body)
	}
	c, resp, err := wsclient.Dial("ws://"+base+"/ws/echo", nil)
	if err != nil {
		t.Fatalf("%v %+v", err, resp)
	}
	defer c.Close()
	c.WriteText("hi")
	if s, err := c.ReadText(); s != "echo: hi" {
		t.Errorf("echo: %q %v", s, err)
	}
}

func TestReferenceApp(t *testing.T) {
	app := startApp(t, "snippets/app")
	addr, _ := app.Addr("app:gateway")
	base := addr.String()
	admin, ok := app.Addr("app:admin")
	if !ok {
		t.Fatal("the second http.service does not listen")
	}
	if code, body := get(t, "http://"+admin.String()+"/metrics"); code != 200 || !strings.Contains(body, "wsrelay_connections_open") {
		t.Errorf("GET admin /metrics = %d", code)
	}
	if code, body := get(t, "http://"+base+"/api/users/7"); code != 200 || body != `{"id":"7"}` {
		t.Errorf("GET /api/users/7 = %d %q", code, body)
	}
	if code, body := get(t, "http://"+base+"/api/hello"); code != 200 || body != "" {
		t.Errorf("GET /api/hello = %d %q", code, body)
	}
	if code, _ := get(t, "http://"+base+"/"); code != 200 {
		t.Errorf("GET / = %d", code)
	}
	// allowed_hosts: a listed name is served on the loopback address, an
	// unlisted one is refused.
	for host, want := range map[string]int{"chat.example.com": 200, "other.example.com": 421} {
		req, _ := http.NewRequest("GET", "http://"+base+"/", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET / with Host %s = %d, want %d", host, resp.StatusCode, want)
		}
	}
	if code, _ := get(t, "http://"+base+"/ws/checked"); code != 426 {
		t.Errorf("plain GET of a checked WebSocket endpoint = %d", code)
	}
	origin := http.Header{"Origin": {"https://app.example.com"}}
	dial := func(path string) *wsclient.Client {
		t.Helper()
		c, resp, err := wsclient.Dial("ws://"+base+path, origin)
		if err != nil {
			t.Fatalf("%s: %v %+v", path, err, resp)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// Sending to the client: text, binary, close.
	c := dial("/ws/connect?user_id=1")
	c.WriteText("demo")
	if s, err := c.ReadText(); s != `{"event":"update","value":42}` {
		t.Errorf("text frame %q %v", s, err)
	}
	if op, data, err := c.ReadMessage(); op != wsclient.OpBinary || string(data) != "\x00\x01\x02" {
		t.Errorf("binary frame %d %q %v", op, data, err)
	}
	if code, reason, _ := c.ReadClose(); code != 1000 || reason != "Session ended" {
		t.Errorf("close %d %q", code, reason)
	}
	// Transfer to the hub, then broadcast. A transfer happens in the
	// background: each client speaks until it hears its own words from
	// the hub (it is then one of the hub's clients).
	a, b := dial("/ws/checked"), dial("/ws/connect")
	for _, c := range []*wsclient.Client{a, b} {
		c.WriteText("hub")
		waitHub(t, c)
	}
	a.WriteText("hello all")
	for {
		s, err := b.ReadText()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(s, `"text":"hello all"`) {
			break
		}
	}
}

// waitHub sends until the hub's broadcast of it comes back.
func waitHub(t *testing.T, c *wsclient.Client) {
	t.Helper()
	c.Timeout = 100 * time.Millisecond
	defer func() { c.Timeout = timeout }()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c.WriteText("anyone?")
		s, err := c.ReadText() // nothing comes back before the transfer: the read times out
		var m map[string]string
		if err == nil && json.Unmarshal([]byte(s), &m) == nil && m["text"] == "anyone?" {
			return
		}
	}
	t.Fatal("the connection never reached the hub")
}

// TestGettingStartedTypedByHand builds the app of getting-started.md the
// way a reader does: the first YAML block is _index.yaml, the next one is
// appended to its entries, and each Lua block is the file the text before
// it names. It must check clean, serve the greeting, turn a plain GET of
// the WebSocket endpoint away without leaving a process, and echo.
func TestGettingStartedTypedByHand(t *testing.T) {
	b, err := os.ReadFile("getting-started.md")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	files := map[string]string{}
	var yamlBlocks []string
	luaName := regexp.MustCompile("`([a-z_]+\\.lua)`")
	lastName := ""
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if !strings.HasPrefix(l, "```") {
			if m := luaName.FindAllStringSubmatch(l, -1); m != nil {
				lastName = m[len(m)-1][1]
			}
			continue
		}
		lang := strings.TrimPrefix(l, "```")
		var body []string
		for i++; i < len(lines) && lines[i] != "```"; i++ {
			body = append(body, lines[i])
		}
		text := strings.Join(body, "\n") + "\n"
		switch lang {
		case "yaml":
			yamlBlocks = append(yamlBlocks, text)
		case "lua":
			if lastName == "" {
				t.Fatalf("getting-started.md:%d: a Lua block with no file named before it", i)
			}
			files[lastName] = text
		}
	}
	if len(yamlBlocks) != 2 || len(files) != 3 {
		t.Fatalf("found %d YAML blocks and Lua files %v: the page changed shape; update this test", len(yamlBlocks), files)
	}
	files["_index.yaml"] = yamlBlocks[0] + "\n" + yamlBlocks[1]
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	app := startApp(t, dir)
	addr, _ := app.Addr("hello:gateway")
	base := addr.String()
	if code, body := get(t, "http://"+base+"/ws/echo"); code != 426 || !strings.Contains(body, "connect with a WebSocket") {
		t.Errorf("plain GET /ws/echo = %d %q, want 426", code, body)
	}
	for _, h := range app.Node().Hosts() {
		if h.Name() == "hello:processes" && h.Stats().Spawned != 0 {
			t.Errorf("a plain GET spawned %d process(es)", h.Stats().Spawned)
		}
	}
	checkHello(t, base)
}

// TestPortedApp: the app of porting.md, with the fields and Lua API that
// apps written for the original runtime use.
func TestPortedApp(t *testing.T) {
	app, logs := apptest.Start(t, "snippets/porting")
	addr, _ := app.Addr("ported:gateway")
	url := "http://" + addr.String() + "/api/rooms/den"
	resp, err := http.Post(url, "application/json; charset=utf-8", strings.NewReader(`{"topic":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || strings.TrimSpace(string(b)) != `{"room":"den"}` {
		t.Errorf("POST %s = %d %s", url, resp.StatusCode, b)
	}
	resp, err = http.Post(url, "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Errorf("POST text = %d, want 415", resp.StatusCode)
	}
	// A handler runs a process with process.exec; the process sums in
	// coroutines of coroutine.spawn.
	if code, body := get(t, "http://"+addr.String()+"/api/squares/4"); code != 200 || strings.TrimSpace(body) != `{"n":4,"total":30}` {
		t.Errorf("GET /api/squares/4 = %d %q", code, body)
	}
	poll.Until(t, timeout, "the clock service to tick twice (from its input) and the room to be logged", func() bool {
		l := logs.String()
		return strings.Contains(l, "ticks=2") && strings.Contains(l, `msg="room created" entry=ported:create_room_fn request_id=`)
	})
}

// TestSharedApp: the app of porting.md's shared code, environment and
// registry sections.
func TestSharedApp(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"", `{"hello":"Ann","plugins":["chat.","echo."]}`},
		{"hi", `{"hi":"Ann","plugins":["chat.","echo."]}`}, // the OS storage is read first
	} {
		t.Setenv("GREETING", tc.env)
		app, logs := apptest.Start(t, "snippets/shared")
		addr, _ := app.Addr("shared:gateway")
		if code, body := get(t, "http://"+addr.String()+"/api/greet/ann"); code != 200 || body != tc.want {
			t.Errorf("GREETING=%q: GET /api/greet/ann = %d %q, want %s", tc.env, code, body, tc.want)
		}
		poll.Until(t, timeout, "the worker to log its job with the dispatcher's context", func() bool {
			return strings.Contains(logs.String(), `msg="job done" entry=shared:worker`) &&
				strings.Contains(logs.String(), `logger=worker n=1 request_id=r1`)
		})
	}
}

// TestRelayPortedApp: the original runtime's websocket relay page,
// assembled as an app, with what docs/porting.md says to change (the raw
// payload option).
func TestRelayPortedApp(t *testing.T) {
	app, _ := apptest.Start(t, "snippets/relayport")
	addr, _ := app.Addr("app:gateway")
	c, resp, err := wsclient.Dial("ws://"+addr.String()+"/ws/join?user_id=ann", nil)
	if err != nil {
		t.Fatalf("%v %+v", err, resp)
	}
	defer c.Close()
	if s, err := c.ReadText(); s != `{"topic":"welcome","data":"{\"user\":\"ann\"}"}` {
		t.Errorf("welcome: %q %v", s, err)
	}
	c.WriteText(`{"type":"ping","n":1}`)
	if s, err := c.ReadText(); s != `{"topic":"echo","data":"{\"n\":1,\"type\":\"ping\"}"}` {
		t.Errorf("echo: %q %v", s, err)
	}
	c.WriteText(`{"type":"bye"}`)
	if code, reason, err := c.ReadClose(); code != 1000 || reason != "Session ended" {
		t.Errorf("close %d %q %v", code, reason, err)
	}
}

// TestHelloWorldPorted: the original runtime's hello world tutorial, as
// written there (its addr ":8080" is moved to a free port for the test).
func TestHelloWorldPorted(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"_index.yaml", "hello.lua"} {
		b, err := os.ReadFile(filepath.Join("snippets/helloworld/src", f))
		if err != nil {
			t.Fatal(err)
		}
		b = []byte(strings.Replace(string(b), `addr: ":8080"`, "addr: 127.0.0.1:8080", 1))
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	app, _ := apptest.Start(t, dir)
	addr, _ := app.Addr("app:gateway")
	if code, body := get(t, "http://"+addr.String()+"/hello"); code != 200 || strings.TrimSpace(body) != `{"message":"hello world"}` {
		t.Errorf("GET /hello = %d %q", code, body)
	}
}

// TestSPAApp: config.md's http.static from an fs.directory, with
// static_options: a route of the app gets its page, a file itself.
func TestSPAApp(t *testing.T) {
	app, _ := apptest.Start(t, "snippets/spa")
	base := "http://" + apptest.Addr(t, app, "spa:gateway")
	for path, want := range map[string]string{"/users/123": "<title>spa</title>", "/assets/app.js": `console.log("app")`} {
		if code, body := get(t, base+path); code != 200 || !strings.Contains(body, want) {
			t.Errorf("GET %s = %d %q, want %q", path, code, body, want)
		}
	}
}
