package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/internal/poll"
)

// TestCheckListsEverything: one run of check reports configuration,
// middleware and Lua problems together, each module and method included.
func TestCheckListsEverything(t *testing.T) {
	dir := writeApp(t, map[string]string{
		"_index.yaml": `version: "1.0"
namespace: hello
entries:
  - {name: gw, kind: http.service, addr: "127.0.0.1:0"}
  - {name: api, kind: http.router, meta: {server: gw}, middleware: [cros]}
  - {name: typo, kind: http.routr, meta: {server: gw}}
  - {name: ep, kind: http.endpoint, meta: {router: typo}, method: GET, path: /, func: fn}
  - {name: ep2, kind: http.endpoint, meta: {router: api}, method: GET, path: /x, func: missing}
  - {name: fn, kind: function.lua, source: file://fn.lua, method: mian, modules: [http, jsno, fs]}
`,
		"fn.lua": "local http = require('http')\nreturn { main = function() end }",
	})
	code, _, errOut := runCmd("check", dir)
	if code != 1 {
		t.Errorf("exit %d", code)
	}
	for _, want := range []string{
		`entry hello:typo: kind: unknown kind "http.routr" (did you mean "http.router"?)`,
		`entry hello:ep2: func: refers to hello:missing, which is not defined`,
		`entry hello:api: middleware: unknown middleware "cros" (did you mean "cors"?)`,
		`entry hello:fn: modules: unknown module "jsno" (did you mean "json"?)`,
		`entry hello:fn: modules: unknown module "fs"`,
		`entry hello:fn: method: method not found: fn.lua defines no function "mian" (did you mean "main"?)`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("check output lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "refers to hello:typo") {
		t.Errorf("the misspelt kind also made a dangling reference:\n%s", errOut)
	}

	// A method that only shows when the file runs passes, with a note.
	ok := writeApp(t, smallApp)
	os.WriteFile(filepath.Join(ok, "ping.lua"), []byte("local t = {}\nt[('hand') .. 'ler'] = function() end\nreturn t"), 0o644)
	code, out, errOut := runCmd("check", ok)
	if code != 0 || !strings.Contains(out, `note: ping.lua: entry app:ping_fn: method: whether ping.lua defines "handler" is known only when it runs`) {
		t.Errorf("exit %d, output %q %q", code, out, errOut)
	}
}

// TestNoDirIsTheCurrentApp: with no DIR, the current directory must be an
// app (have the top _index.yaml); a directory of apps is not loaded whole.
func TestNoDirIsTheCurrentApp(t *testing.T) {
	root := writeApp(t, map[string]string{
		"apps/one/_index.yaml":          smallApp["_index.yaml"],
		"apps/one/ping.lua":             smallApp["ping.lua"],
		"apps/one/testdata/_index.yaml": "broken: [",
	})
	t.Chdir(root)
	code, _, errOut := runCmd("check")
	if code != 1 || !strings.Contains(errOut, "no _index.yaml at the top of the app directory") || !strings.Contains(errOut, "like apps/one") {
		t.Errorf("check in a directory of apps: %d %q", code, errOut)
	}
	t.Chdir(filepath.Join(root, "apps/one"))
	if code, out, errOut := runCmd("check"); code != 0 || !strings.Contains(out, ".: ok") {
		t.Errorf("check in the app (its testdata ignored): %d %q %q", code, out, errOut)
	}
}

func TestDescribeBuild(t *testing.T) {
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/wsrelay/wsrelay", Version: "v1.2.3"},
		Settings: []debug.BuildSetting{{Key: "-compiler", Value: "gc"}, {Key: "vcs.revision", Value: "64e4908"}, {Key: "vcs.time", Value: "2026-11-30T12:28:35Z"}, {Key: "vcs.modified", Value: "true"}}}
	if got, want := describeBuild(bi), "v1.2.3 github.com/wsrelay/wsrelay go1.26.8 revision=64e4908 time=2026-11-30T12:28:35Z modified=true"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	bi = &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/wsrelay/wsrelay", Version: "(devel)"}}
	if got, want := describeBuild(bi), "devel github.com/wsrelay/wsrelay go1.26.8"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestVersionStamp: a built binary reports what it was built from.
func TestVersionStamp(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git: go build records no VCS stamp")
	}
	if st, err := os.Stat("../../.git"); err != nil || !st.IsDir() {
		t.Skip("not a plain git clone (a worktree's .git is a file): go build records no VCS stamp here")
	}
	bin := filepath.Join(t.TempDir(), "wsrelay")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"github.com/wsrelay/wsrelay", " go1.", "revision=", "time=", "modified="} {
		if !strings.Contains(string(out), want) {
			t.Errorf("version %q lacks %q", out, want)
		}
	}
}

var jsonAddr = regexp.MustCompile(`"addr":"([^"]+)"`)

// TestSecondSignalForces: started with SIGINT ignored (as under nohup or
// in a script's background job), the first SIGINT starts the shutdown and
// a second one ends it at once, saying so.
func TestSecondSignalForces(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	app := map[string]string{
		"_index.yaml": strings.Replace(smallApp["_index.yaml"], "modules: [http]", "modules: [http, time]", 1),
		// A request that outlasts a patient shutdown.
		"ping.lua": `local http = require("http")
local time = require("time")
return { handler = function() print("slow request running"); time.sleep("60s") end }`,
	}
	dir := writeApp(t, app)
	// trap '' INT makes sh ignore SIGINT; exec keeps that for the command.
	cmd := exec.Command("sh", "-c", `trap '' INT; exec "$0" -test.run='^$'`, os.Args[0])
	cmd.Env = append(os.Environ(), "WSRELAY_TEST_MAIN=run --log-format json --shutdown-timeout 5m "+dir)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor := logWaiter(t, stderr)
	m := jsonAddr.FindStringSubmatch(waitFor(`"msg":"listening"`))
	if m == nil {
		t.Fatal("no address in the listening line")
	}
	waitFor(`"msg":"started"`)
	go func() {
		// Ends with an error when the server exits: that is the point.
		if resp, err := http.Get("http://" + m[1] + "/ping"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}()
	waitFor("slow request running")
	cmd.Process.Signal(syscall.SIGINT)
	waitFor(`"msg":"shutting down"`)
	cmd.Process.Signal(syscall.SIGINT)
	waitFor(`"msg":"second signal: exiting without finishing the shutdown"`)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Errorf("exit after the second signal: %v, want status 1", err)
	}
}

// TestChatAddressFromEnvironment: the example chat listens on
// 127.0.0.1:8080 by default and on $ADDR when it is set.
func TestChatAddressFromEnvironment(t *testing.T) {
	t.Setenv("ADDR", "")
	cfg, err := config.LoadDir("../../examples/chat", config.StandardKinds())
	if err != nil {
		t.Fatal(err)
	}
	e, _ := cfg.Entry("chat:gateway")
	if addr := e.Spec.(*config.HTTPService).Addr; addr != "127.0.0.1:8080" {
		t.Errorf("default address %q", addr)
	}
	t.Setenv("ADDR", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncWriter{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", "../../examples/chat"}, io.Discard, logs) }()
	var addr string
	poll.Until(t, timeout, "a listening line in the log", func() bool {
		if m := regexp.MustCompile(`listening service=chat:gateway addr=(\S+)`).FindStringSubmatch(logs.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	if strings.HasSuffix(addr, ":8080") {
		t.Errorf("ADDR was not used: %s", addr)
	}
	resp, err := http.Get("http://" + addr + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("GET / on %s: %v %v", addr, resp, err)
	} else {
		resp.Body.Close()
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d:\n%s", code, logs)
	}
}

// TestREADMESynopsis: the README's synopsis of run lists every flag.
func TestREADMESynopsis(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var synopsis string
	for _, l := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(l, "wsrelay run ") {
			synopsis = l
		}
	}
	_, _, help := runCmd("run", "-h")
	flags := regexp.MustCompile(`(?m)^  -([a-z-]+)`).FindAllStringSubmatch(help, -1)
	if len(flags) < 5 {
		t.Fatalf("flags of run -h: %v", flags)
	}
	for _, f := range flags {
		if !strings.Contains(synopsis, "--"+f[1]) {
			t.Errorf("the README's synopsis %q lacks --%s", synopsis, f[1])
		}
	}
}
