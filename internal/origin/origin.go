// Package origin matches the Origin header of browser requests against
// configured lists, for CORS and the WebSocket relay, and the Host header
// of requests on loopback connections against allowed host names (the
// defence against DNS rebinding).
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
	"net/http"
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

// Hosts is a parsed list of allowed Host names, for the loopback rule
// against DNS rebinding: a server reached on a loopback address answers
// only requests whose Host is a loopback name or in the list. The zero
// Hosts allows no name beyond the loopback ones.
//
// Items are host names without a port (any port matches): exact
// ("app.test", "192.168.1.20", "[fd00::1]"), "*.example.com" (any
// subdomain, never example.com itself), or "*" (every name: the rule is
// off).
type Hosts struct {
	any   bool
	exact map[string]bool
	wild  []string // ".example.com"
}

// ParseHosts reads a comma-separated list of host names. Empty items are
// ignored; a malformed item is an error naming it.
func ParseHosts(s string) (Hosts, error) {
	h := Hosts{exact: map[string]bool{}}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
		case item == "*":
			h.any = true
		default:
			name := normalHost(item)
			rest, wild := strings.CutPrefix(name, "*.")
			if wild {
				name = rest
			}
			if name == "" || strings.ContainsAny(name, "*/:@ ") && net.ParseIP(name) == nil {
				return Hosts{}, fmt.Errorf("host %q: write a host name without scheme or port, like app.example.com, *.example.com or 192.168.1.20", item)
			}
			if wild {
				h.wild = append(h.wild, "."+name)
			} else {
				h.exact[name] = true
			}
		}
	}
	return h, nil
}

// Allows reports whether hostport (a Host header: name[:port]) is a
// loopback name or in the list. An empty Host (an HTTP/1.0 request without one: no browser sends
// that) is allowed.
func (h Hosts) Allows(hostport string) bool {
	if h.any || hostport == "" || IsLoopbackHost(hostport) {
		return true
	}
	name := normalHost(stripPort(hostport))
	if h.exact[name] {
		return true
	}
	for _, w := range h.wild {
		if strings.HasSuffix(name, w) && len(name) > len(w) {
			return true
		}
	}
	return false
}

// AllowsRequest applies the loopback rule to a request of an
// http.Server: one that reached the server on a loopback address must
// name a loopback host or one of the list in its Host header. Requests on
// other addresses are not checked.
func (h Hosts) AllowsRequest(r *http.Request) bool {
	la, _ := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	return !IsLoopbackAddr(la) || h.Allows(r.Host)
}

// HostRefusal is the body of the 421 answer to a request AllowsRequest
// refused.
func HostRefusal(host string) string {
	if len(host) > 64 {
		host = host[:64] + "…"
	}
	return fmt.Sprintf("misdirected request: this server listens on a loopback address and answers only loopback host names (localhost, 127.0.0.1, [::1]) and the names its operator allowed; the Host %q is neither", host)
}

// IsLoopbackHost reports whether hostport (a Host header: name[:port])
// names the loopback interface: localhost, 127.0.0.0/8 or [::1].
func IsLoopbackHost(hostport string) bool {
	name := normalHost(stripPort(hostport))
	if name == "localhost" {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// IsLoopbackAddr reports whether a local address (a listener's, or a
// connection's) is a loopback one.
func IsLoopbackAddr(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case nil:
		return false
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// stripPort removes the port of a Host header, and the brackets of an
// IPv6 literal.
func stripPort(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

// normalHost lower-cases a host name and drops a final dot.
func normalHost(name string) string {
	name = strings.ToLower(strings.TrimSpace(name))
	name = strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	return strings.TrimSuffix(name, ".")
}
