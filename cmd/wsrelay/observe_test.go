package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/loadgen"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
	"github.com/wsrelay/wsrelay/observer"
)

var observerLine = regexp.MustCompile(`"observer listening" url=(\S+)`)

// TestRunObserve: --observe serves the observer beside the app, with the
// token of --observe-token-file required, and it stops with the app.
func TestRunObserve(t *testing.T) {
	dir := writeApp(t, smallApp)
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("tok-123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncWriter{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"run", "--node", "n7", "--observe", "127.0.0.1:0", "--observe-token-file", token, dir}, io.Discard, logs)
	}()
	var url string
	poll.Until(t, timeout, "the observer's line in the log", func() bool {
		if m := observerLine.FindStringSubmatch(logs.String()); m != nil {
			url = m[1]
		}
		return url != ""
	})
	resp, err := http.Get(url + "api/overview")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("without the token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", url+"api/overview", nil)
	req.Header.Set("Authorization", "Bearer tok-123")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"node":"n7"`) {
		t.Errorf("with the token: %d %s", resp.StatusCode, b)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("exit %d:\n%s", code, logs)
		}
	case <-time.After(timeout):
		t.Fatal("run did not return after its context ended")
	}
	if _, err := http.Get(url); err == nil {
		t.Errorf("the observer still answers after run returned")
	}
}

// TestRunObserveRefusals: a non-loopback observer without a token, an
// empty token file and a token file without --observe stop the command
// before anything starts, each with what to do.
func TestRunObserveRefusals(t *testing.T) {
	dir := writeApp(t, smallApp)
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, []byte(" \n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--observe", "0.0.0.0:9100"}, "--observe-token-file"},
		{[]string{"--observe", "127.0.0.1:9100", "--observe-token-file", empty}, "the file is empty"},
		{[]string{"--observe-token-file", empty}, "need --observe"},
		{[]string{"--observe-actions"}, "need --observe"},
		{[]string{"--observe", "nonsense"}, `address "nonsense"`},
	} {
		var stderr bytes.Buffer
		code := run(context.Background(), append(append([]string{"run"}, tc.args...), dir), io.Discard, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}

// withObserver is smallApp with an observer entry of these fields.
func withObserver(fields ...string) map[string]string {
	app := map[string]string{}
	for k, v := range smallApp {
		app[k] = v
	}
	for i, f := range fields {
		if i == 0 || strings.HasPrefix(f, "- ") {
			app["_index.yaml"] += "  " + f + "\n"
		} else {
			app["_index.yaml"] += "    " + f + "\n"
		}
	}
	return app
}

// TestRunObserveEntry: an observer entry in the app's YAML starts the
// observer as the flags do, its token read from the variable it names.
func TestRunObserveEntry(t *testing.T) {
	t.Setenv("OBSERVER_TOKEN_TEST", "from-env")
	dir := writeApp(t, withObserver("- name: observer", "kind: observer", "addr: 127.0.0.1:0", "token_env: OBSERVER_TOKEN_TEST"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &syncWriter{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"run", dir}, io.Discard, logs) }()
	var url string
	poll.Until(t, timeout, "the observer's line in the log", func() bool {
		if m := observerLine.FindStringSubmatch(logs.String()); m != nil {
			url = m[1]
		}
		return url != ""
	})
	for path, want := range map[string]int{"api/overview": 401, "api/overview?token=from-env": 200} {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d:\n%s", code, logs)
	}
}

// TestObserverEntryProblems: check refuses an observer entry that run
// could not start, with file and line.
func TestObserverEntryProblems(t *testing.T) {
	t.Setenv("OBSERVER_TOKEN_EMPTY", "")
	for _, tc := range []struct {
		fields []string
		want   string
	}{
		{[]string{"- name: observer", "kind: observer", "addr: 0.0.0.0:9100"}, "not a loopback address: the observer needs a token (token_env"},
		{[]string{"- name: observer", "kind: observer", "addr: nonsense"}, `"nonsense" is not host:port`},
		{[]string{"- name: observer", "kind: observer"}, "addr"},
		{[]string{"- name: observer", "kind: observer", "addr: 127.0.0.1:0", "token_env: NOT-A-NAME"}, "not an environment variable's name"},
		{[]string{"- name: observer", "kind: observer", "addr: 127.0.0.1:0", "- name: observer2", "kind: observer", "addr: 127.0.0.1:0"}, "a second observer entry (the first is app:observer)"},
	} {
		var out bytes.Buffer
		dir := writeApp(t, withObserver(tc.fields...))
		if code := run(context.Background(), []string{"check", dir}, &out, &out); code != 1 || !strings.Contains(out.String(), tc.want) || !strings.Contains(out.String(), "_index.yaml:") {
			t.Errorf("%v: exit %d: %s; want %q with its line", tc.fields, code, out.String(), tc.want)
		}
	}
	var stderr bytes.Buffer
	dir := writeApp(t, withObserver("- name: observer", "kind: observer", "addr: 127.0.0.1:0", "token_env: OBSERVER_TOKEN_EMPTY"))
	if code := run(context.Background(), []string{"run", dir}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "OBSERVER_TOKEN_EMPTY (token_env) is empty or not set") {
		t.Errorf("run with an empty token variable: exit %d: %s", code, stderr.String())
	}
}

// TestBenchObserverPage: bench --observe-page keeps an observer page open
// during the runs of --url only, and says how many updates it got.
func TestBenchObserverPage(t *testing.T) {
	app, _ := apptest.Start(t, "../../examples/bench")
	addr := apptest.Addr(t, app, "bench:gateway")
	obs, err := observer.Start(observer.Options{Addr: "127.0.0.1:0", Node: app.Node()})
	if err != nil {
		t.Fatal(err)
	}
	defer obs.Close(context.Background())
	url := "ws://" + addr + "/ws/shared"
	poll.Until(t, timeout, "the shared echo serving", func() bool {
		c, _, err := wsclient.Dial(url, nil)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	var out, errOut bytes.Buffer
	args := []string{"bench", "echo", "--url", url, "--baseline", url, "--conns", "2", "--messages", "100",
		"--observe-page", "ws://" + obs.Addr() + "/live", "--json", "--quiet"}
	if code := run(context.Background(), args, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var got struct {
		Results []loadgen.Result `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Results) != 2 || got.Results[0].ObserverUpdates < 1 || got.Results[1].ObserverUpdates != 0 {
		t.Fatalf("results: %+v", got.Results)
	}
	if code := run(context.Background(), []string{"bench", "echo", "--url", url, "--observe-page", "ws://192.0.2.1/live"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "loopback") {
		t.Fatalf("a page elsewhere: exit %d: %s", code, errOut.String())
	}
}
