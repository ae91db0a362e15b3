package gateway

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/wsrelay/wsrelay/internal/origin"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// relayOptions are the post_options the websocket_relay middleware takes
// (without the "wsrelay." prefix), each with the wsrelay.Options field it
// sets, in the order they are documented (docs/relay.md).
var relayOptions = []struct{ key, field string }{
	{"allowed.origins", "AllowedOrigins"},
	{"max.message.size", "MaxMessageSize"},
	{"outbound.queue", "OutboundQueue"},
	{"write.timeout", "WriteTimeout"},
	{"ping.interval", "PingInterval"},
	{"pong.timeout", "PongTimeout"},
	{"compression", "Compression"},
	{"read.timeout", "ReadTimeout"},
	{"inbound.budget", "InboundBudgetSize"},
	{"max.frame.rate", "MaxFrameRate"},
	{"max.inflate.rate", "MaxInflateRate"},
	{"outbound.pause.bytes", "OutboundPauseBytes"},
	{"outbound.max.bytes", "OutboundMaxBytes"},
	{"inflight.max.bytes", "InflightMaxBytes"},
	{"raw.payload", "RawPayload"},
}

func relayOptionNames() []string {
	names := make([]string, len(relayOptions))
	for i, o := range relayOptions {
		names[i] = o.key
	}
	return names
}

// relayFieldNames turns wsrelay.Options field names in a message into
// the post_options keys a YAML author wrote.
var relayFieldNames = func() *strings.Replacer {
	var pairs []string
	for _, o := range relayOptions {
		pairs = append(pairs, o.field, "wsrelay."+o.key)
	}
	return strings.NewReplacer(pairs...)
}()

// relayOptionError is a wsrelay.OptionError told in post_options' terms.
func relayOptionError(oe *wsrelay.OptionError) *OptionError {
	key := oe.Field
	for _, o := range relayOptions {
		if o.field == oe.Field {
			key = o.key
		}
	}
	return &OptionError{Option: key, Msg: relayFieldNames.Replace(oe.Msg)}
}

// parseRelayOptions reads post_options (keys without the "wsrelay."
// prefix) into o. It checks every option and returns an *OptionError for
// each bad one (joined with errors.Join when there are several).
func parseRelayOptions(opts map[string]string, o *wsrelay.Options) error {
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var errs []error
	for _, k := range keys {
		v := opts[k]
		var err error
		switch k {
		case "allowed.origins":
			o.AllowedOrigins = v
			_, err = origin.Parse(v)
		case "max.message.size":
			o.MaxMessageSize, err = positiveInt(v)
		case "outbound.queue":
			o.OutboundQueue, err = positiveInt(v)
		case "write.timeout":
			o.WriteTimeout, err = positiveDuration(v)
		case "pong.timeout":
			o.PongTimeout, err = positiveDuration(v)
		case "ping.interval":
			if v == "0" || v == "0s" || v == "off" {
				o.PingInterval = -1
			} else {
				o.PingInterval, err = positiveDuration(v)
			}
		case "outbound.pause.bytes":
			o.OutboundPauseBytes, err = positiveInt(v)
		case "outbound.max.bytes":
			o.OutboundMaxBytes, err = positiveInt(v)
		case "inflight.max.bytes":
			o.InflightMaxBytes, err = positiveInt(v)
		case "compression":
			o.Compression, err = boolOption(v)
		case "raw.payload":
			o.RawPayload, err = boolOption(v)
		case "read.timeout":
			o.ReadTimeout, err = positiveDuration(v)
		case "max.frame.rate":
			o.MaxFrameRate, err = rateOption(v)
		case "max.inflate.rate":
			o.MaxInflateRate, err = rateOption(v)
		case "inbound.budget":
			var n int
			n, err = positiveInt(v)
			o.InboundBudgetSize = int64(n)
		default:
			err = errors.New("unknown option")
		}
		if err != nil {
			errs = append(errs, &OptionError{Option: k, Msg: err.Error()})
		}
	}
	return errors.Join(errs...)
}

func boolOption(s string) (bool, error) {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%q is not true or false", s)
	}
	return b, nil
}

func positiveInt(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a whole number of at least 1", s)
	}
	return n, nil
}

// rateOption reads a rate bound: a whole number of at least 1, or "off"
// (also "0") for none.
func rateOption(s string) (int, error) {
	if s == "off" || s == "0" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q is not a whole number of at least 1, or off", s)
	}
	return n, nil
}

func positiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration like \"10s\"", s)
	}
	return d, nil
}
