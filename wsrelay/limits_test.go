package wsrelay_test

import (
	"errors"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// TestLimitOptions: read.timeout and inbound.budget are read from
// post_options, checked, and given defaults.
func TestLimitOptions(t *testing.T) {
	var o wsrelay.Options
	if err := wsrelay.ParseOptions(map[string]string{"read.timeout": "5s", "inbound.budget": "1048576"}, &o); err != nil {
		t.Fatal(err)
	}
	if o.ReadTimeout != 5*time.Second || o.InboundBudgetSize != 1<<20 {
		t.Fatalf("parsed %v %d", o.ReadTimeout, o.InboundBudgetSize)
	}
	err := wsrelay.ParseOptions(map[string]string{"read.timeout": "soon", "inbound.budget": "0"}, &o)
	var oe *wsrelay.OptionError
	if !errors.As(err, &oe) || err.Error() != "wsrelay.inbound.budget: \"0\" is not a whole number of at least 1\nwsrelay.read.timeout: \"soon\" is not a positive duration like \"10s\"" {
		t.Fatalf("bad values: %v", err)
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

// TestRateOptions: the rate bounds are read from post_options, "off"
// turns one off, and anything but a positive whole number is refused.
func TestRateOptions(t *testing.T) {
	var o wsrelay.Options
	if err := wsrelay.ParseOptions(map[string]string{"max.frame.rate": "200", "max.inflate.rate": "off"}, &o); err != nil {
		t.Fatal(err)
	}
	if o.MaxFrameRate != 200 || o.MaxInflateRate >= 0 {
		t.Fatalf("parsed %d %d", o.MaxFrameRate, o.MaxInflateRate)
	}
	err := wsrelay.ParseOptions(map[string]string{"max.frame.rate": "-5"}, &o)
	if err == nil || err.Error() != `wsrelay.max.frame.rate: "-5" is not a whole number of at least 1, or off` {
		t.Fatalf("bad value: %v", err)
	}
}
