package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/wsclient"
)

// A table payload whose JSON text would be 36 MiB, sent to a client whose
// outbound budget is 5 MiB, is not built: the message is ignored with a
// line in the log saying why, and the client stays connected and gets the
// next message.
func TestHugeTablePayloadIsNotSent(t *testing.T) {
	app, logs := apptest.Start(t, "testdata/bigsendapp")
	c, resp, err := wsclient.Dial("ws://"+apptest.Addr(t, app, "app:gateway")+"/ws/connect", http.Header{"Origin": {"https://app.example.com"}})
	if err != nil {
		t.Fatalf("dial: %v %+v", err, resp)
	}
	defer c.Close()
	c.WriteText("go")
	got, err := c.ReadText()
	if err != nil || got != `{"topic":"small","data":"ok"}` {
		t.Fatalf("the client read %.200q (%v); want the small message only", got, err)
	}
	poll.Until(t, timeout, "the log line of the ignored message", func() bool {
		return strings.Contains(logs.String(), "message to a websocket client ignored")
	})
	if line := logs.String(); !strings.Contains(line, "big: payload cannot be encoded as JSON") || !strings.Contains(line, "would be larger than") {
		t.Fatalf("the log does not say why:\n%.2000s", line)
	}
}
