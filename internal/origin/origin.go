// Package origin matches the Origin header of browser requests against
// configured lists, for CORS and the WebSocket relay.
//
// A list is comma-separated. Each item is an exact origin
// ("https://app.example.com", "http://localhost:3000"), an origin whose
// host starts with "*." ("https://*.example.com": any subdomain, one label
// or more, never example.com itself), or "*" (every origin). Schemes and
// hosts compare case-insensitively and a default port (80 for http, 443
// for https) may be written or left out.
package origin

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// List is a parsed list of allowed origins. The zero List allows nothing.
type List struct {
	any   bool
	exact map[string]bool
	wild  []wildcard
}

type wildcard struct {
	scheme string
	suffix string // ".example.com"
	port   string // normalised: "" for the scheme's default
}

// Parse reads a comma-separated list. Empty items are ignored; a malformed
// item is an error naming it.
func Parse(s string) (List, error) {
	l := List{exact: map[string]bool{}}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
		case item == "*":
			l.any = true
		default:
			scheme, host, port, err := split(item)
			if err != nil {
				return List{}, err
			}
			if rest, ok := strings.CutPrefix(host, "*."); ok {
				if rest == "" || strings.Contains(rest, "*") {
					return List{}, fmt.Errorf("origin %q: a wildcard is written like https://*.example.com", item)
				}
				l.wild = append(l.wild, wildcard{scheme: scheme, suffix: "." + rest, port: port})
				continue
			}
			if strings.Contains(host, "*") {
				return List{}, fmt.Errorf("origin %q: '*' may only start the host, as in https://*.example.com", item)
			}
			l.exact[join(scheme, host, port)] = true
		}
	}
	return l, nil
}

// Empty reports whether the list allows nothing (no items were given).
func (l List) Empty() bool { return !l.any && len(l.exact) == 0 && len(l.wild) == 0 }

// Allows reports whether the origin is in the list.
func (l List) Allows(origin string) bool {
	if l.any {
		return true
	}
	scheme, host, port, err := split(origin)
	if err != nil {
		return false
	}
	if l.exact[join(scheme, host, port)] {
		return true
	}
	for _, w := range l.wild {
		if w.scheme == scheme && w.port == port && strings.HasSuffix(host, w.suffix) && len(host) > len(w.suffix) {
			return true
		}
	}
	return false
}

// SameOrigin reports whether origin names the host the request was sent
// to (its Host header). Schemes are not compared: TLS may end at a proxy.
func SameOrigin(origin, requestHost string) bool {
	scheme, host, port, err := split(origin)
	if err != nil {
		return false
	}
	rh, rp, err := net.SplitHostPort(requestHost)
	if err != nil {
		rh, rp = requestHost, ""
	}
	rh = strings.ToLower(strings.Trim(rh, "[]"))
	if rp == defaultPort(scheme) {
		rp = ""
	}
	return host == rh && port == rp
}

// split parses an origin into lower-case scheme and host and a port ("" for
// the scheme's default).
func split(origin string) (scheme, host, port string, err error) {
	u, perr := url.Parse(origin)
	if perr != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return "", "", "", fmt.Errorf("origin %q: write an origin as scheme://host[:port], like https://app.example.com", origin)
	}
	scheme = strings.ToLower(u.Scheme)
	host = strings.ToLower(u.Hostname())
	port = u.Port()
	if port == defaultPort(scheme) {
		port = ""
	}
	return scheme, host, port, nil
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

func join(scheme, host, port string) string {
	if port == "" {
		return scheme + "://" + host
	}
	return scheme + "://" + host + ":" + port
}
