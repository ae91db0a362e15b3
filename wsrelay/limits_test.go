package wsrelay_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// TestOptionErrorsNameFields: a bad Options is refused with the Go field
// at fault, and the fields a bound depends on.
func TestOptionErrorsNameFields(t *testing.T) {
	node, err := process.NewNode(&process.Options{Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Shutdown(t.Context()) })
	for _, tc := range []struct {
		o    wsrelay.Options
		want string
	}{
		{wsrelay.Options{Node: node, MaxMessageSize: -1}, "wsrelay: Options.MaxMessageSize: must be at least 1 byte"},
		{wsrelay.Options{Node: node, ReadTimeout: -time.Second}, "wsrelay: Options.ReadTimeout: must be positive"},
		{wsrelay.Options{Node: node, OutboundMaxBytes: 10}, "wsrelay: Options.OutboundMaxBytes: must be at least OutboundPauseBytes + InflightMaxBytes + 3 × MaxMessageSize"},
		{wsrelay.Options{Node: node, AllowedOrigins: "https://*.*.example.com/path"}, "wsrelay: Options.AllowedOrigins: "},
	} {
		_, err := wsrelay.New(tc.o)
		var oe *wsrelay.OptionError
		if !errors.As(err, &oe) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("got %v, want %q", err, tc.want)
		}
	}
	if b := wsrelay.NewBudget(0); b.Limit() != wsrelay.DefaultInboundBudget {
		t.Fatalf("default budget %d", b.Limit())
	}
}

// TestSharedBudget: relays sharing a budget make it the largest size any
// of them sets; a relay without one gets its own of the default size.
func TestSharedBudget(t *testing.T) {
	node, err := process.NewNode(&process.Options{Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Shutdown(t.Context()) })
	shared := wsrelay.NewBudget(0)
	for _, size := range []int64{0, 64 << 20, 1 << 20} {
		if _, err := wsrelay.New(wsrelay.Options{Node: node, InboundBudget: shared, InboundBudgetSize: size}); err != nil {
			t.Fatal(err)
		}
	}
	if shared.Limit() != 64<<20 {
		t.Fatalf("shared budget %d, want the largest size set", shared.Limit())
	}
}
