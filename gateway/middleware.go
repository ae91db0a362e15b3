package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/wsrelay/wsrelay/process"
)

// Stage says where a middleware runs in a router.
type Stage uint8

const (
	// Pre middleware runs for every request to the router's prefix, before
	// routing: listed under a router's middleware, configured by options.
	Pre Stage = iota + 1
	// Post middleware runs after routing, for matched routes only, around
	// the endpoint's handler: listed under post_middleware, configured by
	// post_options.
	Post
)

func (s Stage) when() string {
	if s == Post {
		return "after routing"
	}
	return "before routing"
}

func (s Stage) String() string {
	if s == Post {
		return "post_middleware"
	}
	return "middleware"
}

// Middleware is a named middleware that routers can list.
type Middleware struct {
	// Name is what routers list, e.g. "cors" or "websocket_relay".
	Name string
	// Stage is where it may be listed.
	Stage Stage
	// Prefix starts its option keys: "cors" for cors.allow.origins.
	Prefix string
	// Options are the option names it knows, without the prefix.
	Options []string
	// New builds it for one router from its options (keys without the
	// prefix). An *OptionError names the offending option.
	New func(mc MiddlewareContext, opts map[string]string) (func(http.Handler) http.Handler, error)
}

// MiddlewareContext is what a middleware may use when it is built.
type MiddlewareContext struct {
	Router string // the router's entry id, for logs
	Node   *process.Node
	Logger *slog.Logger
	// OnShutdown registers a function the app calls when it shuts down,
	// after its HTTP servers stopped taking requests and before processes
	// are cancelled (the relay closes its connections there).
	OnShutdown func(func(ctx context.Context))
	// AllowedHosts is the allowed_hosts of the router's http.service,
	// comma-separated: the relay applies the same loopback Host rule.
	AllowedHosts string

	metrics *metrics // the app's, for the relay
}

// OptionError reports a bad option value.
type OptionError struct {
	Option string // without the prefix
	Msg    string
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Msg }

// optionsFor splits a router's option map among its middleware by prefix,
// reporting keys that belong to none or name an unknown option.
func optionsFor(listed []*Middleware, opts map[string]string, bad func(key, msg string)) map[string]map[string]string {
	out := make(map[string]map[string]string, len(listed))
	for _, m := range listed {
		out[m.Name] = map[string]string{}
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		prefix, name, ok := strings.Cut(k, ".")
		var owner *Middleware
		for _, m := range listed {
			if ok && m.Prefix == prefix {
				owner = m
			}
		}
		switch {
		case owner == nil:
			bad(k, "no listed middleware takes this option (options are written middleware_prefix.option, like cors.allow.origins)")
		case !slices.Contains(owner.Options, name):
			bad(k, "unknown option of "+owner.Name+"; known: "+prefixAll(owner.Prefix, owner.Options))
		default:
			out[owner.Name][name] = opts[k]
		}
	}
	return out
}

func prefixAll(prefix string, names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + "." + n
	}
	return strings.Join(out, ", ")
}

// chain wraps h in mws, the first listed outermost.
func chain(h http.Handler, mws []func(http.Handler) http.Handler) http.Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}
