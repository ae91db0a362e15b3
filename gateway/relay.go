package gateway

import (
	"errors"
	"net/http"

	"github.com/wsrelay/wsrelay/wsrelay"
)

// Relay returns the websocket_relay middleware (post-match): a route whose
// function sets the X-WS-Relay header becomes a WebSocket relayed to a
// process. Its options are the wsrelay.* post_options (docs/relay.md).
func Relay() *Middleware {
	// One inbound budget for every route of the app (docs/relay.md).
	budget := wsrelay.NewBudget(0)
	return &Middleware{
		Name:    "websocket_relay",
		Stage:   Post,
		Prefix:  "wsrelay",
		Options: relayOptionNames(),
		New: func(mc MiddlewareContext, opts map[string]string) (func(http.Handler) http.Handler, error) {
			o := wsrelay.Options{Node: mc.Node, Logger: mc.Logger, Route: mc.Router, AllowedHosts: mc.AllowedHosts}
			o.InboundBudget = budget
			if mc.metrics != nil {
				o.Metrics = mc.metrics
			}
			err := parseRelayOptions(opts, &o)
			var rl *wsrelay.Relay
			if err == nil {
				rl, err = wsrelay.New(o)
			}
			if err != nil {
				var errs []error
				for _, e := range unjoin(err) {
					var oe *wsrelay.OptionError
					if errors.As(e, &oe) {
						e = relayOptionError(oe)
					}
					errs = append(errs, e)
				}
				return nil, errors.Join(errs...)
			}
			if mc.metrics != nil {
				mc.metrics.addRelay(rl)
			}
			mc.OnShutdown(rl.Shutdown)
			return rl.Middleware, nil
		},
	}
}
