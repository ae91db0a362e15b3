package gateway_test

import (
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/wsclient"
)

// TestGroupOfRelayClients: relay clients joined to a group by their
// target get its broadcasts as frames, and a client that closes is one
// member.left for the room.
func TestGroupOfRelayClients(t *testing.T) {
	ta := startAppIn(t, "testdata/pgapp")
	url := "ws://" + ta.addr + "/ws/connect"
	dial := func() (*wsclient.Client, string) {
		c, resp, err := wsclient.Dial(url, nil)
		if err != nil {
			t.Fatalf("dial: %v %+v", err, resp)
		}
		t.Cleanup(func() { c.Close() })
		w, err := c.ReadText()
		if err != nil || !strings.HasPrefix(w, "welcome ") {
			t.Fatalf("welcome: %q %v", w, err)
		}
		return c, strings.TrimPrefix(w, "welcome ")
	}
	a, _ := dial()
	b, bPID := dial()
	if err := a.WriteText("hi all"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*wsclient.Client{a, b} {
		if got, err := c.ReadText(); got != "hi all" || err != nil {
			t.Fatalf("broadcast: %q %v", got, err)
		}
	}
	b.WriteClose(1000, "bye")
	if got, err := a.ReadText(); got != "left "+bPID || err != nil {
		t.Fatalf("after b closed: %q %v, want left %s", got, err, bPID)
	}
	if err := a.WriteText("still here"); err != nil {
		t.Fatal(err)
	}
	if got, err := a.ReadText(); got != "still here" || err != nil {
		t.Fatalf("broadcast after b left: %q %v", got, err)
	}
}
