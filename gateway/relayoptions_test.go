package gateway

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// TestRelayOptions: the wsrelay.* post_options are read, checked, and
// refused by their key with what is wrong.
func TestRelayOptions(t *testing.T) {
	var o wsrelay.Options
	if err := parseRelayOptions(map[string]string{"read.timeout": "5s", "inbound.budget": "1048576", "max.frame.rate": "200", "max.inflate.rate": "off", "ping.interval": "off"}, &o); err != nil {
		t.Fatal(err)
	}
	if o.ReadTimeout != 5*time.Second || o.InboundBudgetSize != 1<<20 || o.MaxFrameRate != 200 || o.MaxInflateRate >= 0 || o.PingInterval >= 0 {
		t.Fatalf("parsed %+v", o)
	}
	err := parseRelayOptions(map[string]string{"read.timeout": "soon", "inbound.budget": "0", "max.frame.rate": "-5", "compression": "maybe", "colour": "red"}, &o)
	var oe *OptionError
	want := "colour: unknown option\n" +
		"compression: \"maybe\" is not true or false\n" +
		"inbound.budget: \"0\" is not a whole number of at least 1\n" +
		"max.frame.rate: \"-5\" is not a whole number of at least 1, or off\n" +
		"read.timeout: \"soon\" is not a positive duration like \"10s\""
	if !errors.As(err, &oe) || err.Error() != want {
		t.Fatalf("bad values:\n%v\nwant:\n%s", err, want)
	}
}

// TestRelayOptionErrorInYAMLTerms: a bound the relay checks across
// options is reported with the keys the YAML author wrote.
func TestRelayOptionErrorInYAMLTerms(t *testing.T) {
	node, err := process.NewNode(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Shutdown(t.Context()) })
	o := wsrelay.Options{Node: node}
	if err := parseRelayOptions(map[string]string{"outbound.max.bytes": "10"}, &o); err != nil {
		t.Fatal(err)
	}
	_, err = wsrelay.New(o)
	var oe *wsrelay.OptionError
	if !errors.As(err, &oe) {
		t.Fatalf("New: %v", err)
	}
	got := relayOptionError(oe)
	if got.Option != "outbound.max.bytes" || !strings.HasPrefix(got.Msg, "must be at least wsrelay.outbound.pause.bytes + wsrelay.inflight.max.bytes + 3 × wsrelay.max.message.size (") {
		t.Fatalf("%s: %s", got.Option, got.Msg)
	}
	if len(relayOptionNames()) != len(relayOptions) {
		t.Fatal("names")
	}
}
