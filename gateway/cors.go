package gateway

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/wsrelay/wsrelay/internal/origin"
)

// CORS returns the cors middleware: cross-origin resource sharing for a
// router. Options (all optional):
//
//	cors.allow.origins      comma-separated origins, "https://*.example.com" wildcards, or "*"; default none
//	cors.allow.methods      default "GET, POST, PUT, PATCH, DELETE, OPTIONS"
//	cors.allow.headers      default: whatever the preflight asks for
//	cors.expose.headers     default none
//	cors.allow.credentials  "true" or "false"; default false
//	cors.max.age            seconds a preflight may be cached; default 0 (not sent)
//
// A preflight (OPTIONS with Access-Control-Request-Method) from an allowed
// origin is answered 204 without reaching the routes; from any other origin
// it gets 403. Other requests pass through, with the CORS headers added
// when their origin is allowed.
func CORS() *Middleware {
	return &Middleware{
		Name:    "cors",
		Stage:   Pre,
		Prefix:  "cors",
		Options: []string{"allow.origins", "allow.methods", "allow.headers", "expose.headers", "allow.credentials", "max.age"},
		New:     newCORS,
	}
}

func newCORS(_ MiddlewareContext, opts map[string]string) (func(http.Handler) http.Handler, error) {
	allowed, err := origin.Parse(opts["allow.origins"])
	if err != nil {
		return nil, &OptionError{Option: "allow.origins", Msg: err.Error()}
	}
	methods := opts["allow.methods"]
	if methods == "" {
		methods = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	}
	credentials := false
	if v, ok := opts["allow.credentials"]; ok {
		if credentials, err = strconv.ParseBool(v); err != nil {
			return nil, &OptionError{Option: "allow.credentials", Msg: strconv.Quote(v) + " is not true or false"}
		}
	}
	if credentials && opts["allow.origins"] == "*" {
		return nil, &OptionError{Option: "allow.credentials", Msg: "browsers refuse credentials with the origin \"*\"; list the origins"}
	}
	maxAge := ""
	if v, ok := opts["max.age"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, &OptionError{Option: "max.age", Msg: strconv.Quote(v) + " is not a number of seconds"}
		}
		maxAge = strconv.Itoa(n)
	}
	headers, expose := opts["allow.headers"], opts["expose.headers"]
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			o := r.Header.Get("Origin")
			if o == "" {
				next.ServeHTTP(w, r)
				return
			}
			h := w.Header()
			h.Add("Vary", "Origin")
			ok := allowed.Allows(o)
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if preflight {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
				if !ok {
					http.Error(w, "origin not allowed", http.StatusForbidden)
					return
				}
				h.Set("Access-Control-Allow-Origin", o)
				h.Set("Access-Control-Allow-Methods", methods)
				if hs := headers; hs != "" {
					h.Set("Access-Control-Allow-Headers", hs)
				} else if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
					h.Set("Access-Control-Allow-Headers", req)
				}
				if credentials {
					h.Set("Access-Control-Allow-Credentials", "true")
				}
				if maxAge != "" {
					h.Set("Access-Control-Max-Age", maxAge)
				}
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if ok {
				h.Set("Access-Control-Allow-Origin", o)
				if credentials {
					h.Set("Access-Control-Allow-Credentials", "true")
				}
				if expose != "" {
					h.Set("Access-Control-Expose-Headers", strings.TrimSpace(expose))
				}
			}
			next.ServeHTTP(w, r)
		})
	}, nil
}
