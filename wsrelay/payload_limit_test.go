package wsrelay

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/value"
)

// A table payload whose JSON would pass the client's outbound budget is
// refused with an error (the message is ignored and logged) before the
// frame is built: one 1 MiB string of control bytes held a thousand times
// is a small value but a 6 GB frame.
func TestTablePayloadJSONIsBounded(t *testing.T) {
	s := value.String(strings.Repeat("\x01", 1<<20))
	items := make([]value.Value, 1000)
	for i := range items {
		items[i] = s
	}
	big := value.List(items...)
	const max = DefaultOutboundMaxBytes
	if _, err := topicFrame("t", big, max); !errors.Is(err, ErrPayload) || !strings.Contains(err.Error(), "would be larger than") {
		t.Fatalf("topic frame: %v, want a payload error saying it is too large", err)
	}
	send := value.Map(value.Field{Key: "data", Value: big})
	if _, err := parseSend(send, max); !errors.Is(err, ErrPayload) || !strings.Contains(err.Error(), "would be larger than") {
		t.Fatalf("ws.send: %v, want a payload error saying it is too large", err)
	}
	// A frame of exactly the bound is sent.
	f, err := topicFrame("t", value.String(strings.Repeat("x", 100)), len(`{"topic":"t","data":""}`)+100)
	if err != nil || len(f.data) != len(`{"topic":"t","data":""}`)+100 {
		t.Fatalf("a frame of exactly the bound: %d bytes, %v", len(f.data), err)
	}
}
