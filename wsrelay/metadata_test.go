package wsrelay_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// metadataOf returns metadata whose binary encoding is size bytes.
func metadataOf(t *testing.T, size int) value.Value {
	t.Helper()
	for n := size; n > 0; n-- {
		m := value.Map(value.Field{Key: "k", Value: value.String(strings.Repeat("x", n))})
		if value.BinarySize(m) == size {
			return m
		}
	}
	t.Fatalf("no metadata of %d bytes", size)
	return value.Value{}
}

// TestMetadataIsBounded: metadata over MaxMetadataBytes is refused with
// an error naming the field and the limit; metadata at the limit is
// taken, and the node_down ws.leave that carries it (with a client PID
// of long node and host names) fits in a notice, so a client on another
// node can always leave it with its target.
func TestMetadataIsBounded(t *testing.T) {
	t.Parallel()
	target := `"target_pid":"{n1@app:processes|1}"`
	over := metadataOf(t, wsrelay.MaxMetadataBytes+1)
	_, err := wsrelay.ParseHeader(`{` + target + `,"metadata":` + jsonOf(t, over) + `}`)
	var he *wsrelay.HeaderError
	if !errors.As(err, &he) || he.Field != "metadata" || !strings.Contains(err.Error(), "at most 32768") {
		t.Fatalf("metadata of %d bytes: %v, want a HeaderError on metadata naming the limit", wsrelay.MaxMetadataBytes+1, err)
	}
	at := metadataOf(t, wsrelay.MaxMetadataBytes)
	h, err := wsrelay.ParseHeader(`{` + target + `,"metadata":` + jsonOf(t, at) + `}`)
	if err != nil {
		t.Fatalf("metadata of %d bytes: %v", wsrelay.MaxMetadataBytes, err)
	}
	client := pid.PID{Node: strings.Repeat("n", 255), Host: strings.Repeat("h", 255), ID: 1<<64 - 1}
	leave := value.Map(
		value.Field{Key: "client_pid", Value: value.String(client.String())},
		value.Field{Key: "metadata", Value: h.Metadata},
		value.Field{Key: "reason", Value: value.String(wsrelay.ReasonNodeDown)},
	)
	if size := len(wsrelay.TopicLeave) + value.BinarySize(leave); size > process.MaxNoticeBytes {
		t.Fatalf("the node_down leave with the largest metadata is %d bytes, over MaxNoticeBytes %d", size, process.MaxNoticeBytes)
	}
}

func jsonOf(t *testing.T, v value.Value) string {
	t.Helper()
	b, err := value.AppendJSON(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
