package gateway_test

import (
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
)

// TestTargetFailuresAreLogged: the failures issue 13 found silent at the
// default log level — a per-connection target whose method is misspelt,
// and one that raises a Lua error — are in the log at error level, with
// the entry, the missing function or the Lua error and its traceback.
func TestTargetFailuresAreLogged(t *testing.T) {
	app, logs := apptest.Start(t, "testdata/crashapp")
	base := "ws://" + apptest.Addr(t, app, "app:gateway") + "/ws/"

	// method: mian. The target fails before or after the relay watches
	// it: the client gets 502 or 1011, and the log says why either way.
	c, resp, err := wsclient.Dial(base+"typo", nil)
	if err == nil {
		if code, _, _ := c.ReadClose(); code != 1011 {
			t.Errorf("typo target: close %d, want 1011", code)
		}
		c.Close()
	} else if resp == nil || resp.Status != 502 {
		t.Fatalf("typo target: %v %+v", err, resp)
	}
	poll.Until(t, timeout, "the missing method in the log", func() bool {
		return strings.Contains(logs.String(), `defines no function \"mian\"`)
	})
	for _, want := range []string{"level=ERROR", "app:typo: method not found", `the table it returns has the functions \"handler\"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}

	// A Lua error in a relay target: the relay, which monitors it, logs it.
	c, _, err = wsclient.Dial(base+"failing", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteText("frame 1")
	if code, reason, _ := c.ReadClose(); code != 1011 || reason != "target failed" {
		t.Errorf("failing target: close %d %q, want 1011 target failed", code, reason)
	}
	poll.Until(t, timeout, "the target's failure in the log", func() bool {
		return strings.Contains(logs.String(), "websocket relay target failed")
	})
	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "websocket relay target failed") {
			line = l
		}
	}
	for _, want := range []string{"level=ERROR", "route=app:ws", "target.lua:2: cannot handle frame 1", "stack traceback:", `in function 'on_frame'`} {
		if !strings.Contains(line, want) {
			t.Errorf("the relay's line lacks %q:\n%s", want, line)
		}
	}
}
