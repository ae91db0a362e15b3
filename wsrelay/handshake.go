package wsrelay

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/wsrelay/wsrelay/internal/logtext"
)

// Reasons the relay refuses a request before its handler runs, as passed
// to RefusalMetrics.Refused.
const (
	RefusedHandshake = "bad_handshake" // claims a WebSocket upgrade but breaks RFC 6455 §4.2.1 (400)
	RefusedVersion   = "bad_version"   // Sec-WebSocket-Version is missing or not 13 (426)
	RefusedOrigin    = "origin"        // the Origin is not allowed (403)
	RefusedHost      = "host"          // a loopback connection named a Host that is not loopback nor allowed (421)
)

// RefusalMetrics is implemented by Metrics that also count the requests
// the relay refused before their handler ran. It is optional: Metrics
// without it are not told.
type RefusalMetrics interface {
	// Refused: a request was answered with an error and its handler did
	// not run, for reason (RefusedHandshake, RefusedVersion, RefusedOrigin,
	// RefusedHost).
	Refused(reason string)
}

// handshakeError is what is wrong with a request that claims a WebSocket
// upgrade: the status to answer and a message for the client.
type handshakeError struct {
	status int
	reason string // a Refused* constant
	msg    string
}

// claimsUpgrade reports whether r says it is a WebSocket handshake: its
// Upgrade header names websocket. Such a request must be a valid one
// before any handler runs.
func claimsUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		if headerHasToken(v, "websocket") {
			return true
		}
	}
	return false
}

// checkHandshake validates the opening handshake of RFC 6455 §4.2.1 for a
// request that claims an upgrade, before its handler may spawn anything.
func checkHandshake(r *http.Request) *handshakeError {
	bad := func(format string, args ...any) *handshakeError {
		return &handshakeError{status: http.StatusBadRequest, reason: RefusedHandshake, msg: "bad WebSocket handshake: " + fmt.Sprintf(format, args...)}
	}
	if r.Method != http.MethodGet {
		return bad("the method must be GET, not %s", clip(r.Method))
	}
	if !r.ProtoAtLeast(1, 1) || r.ProtoMajor != 1 {
		return bad("it needs HTTP/1.1, not %s", clip(r.Proto))
	}
	if up := r.Header.Values("Upgrade"); len(up) != 1 || !strings.EqualFold(strings.TrimSpace(up[0]), "websocket") {
		return bad("the Upgrade header must be exactly \"websocket\"")
	}
	if !headerHasToken(strings.Join(r.Header.Values("Connection"), ","), "upgrade") {
		return bad("the Connection header must include \"Upgrade\"")
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		got := "none"
		if len(v) > 0 {
			got = fmt.Sprintf("%q", clip(strings.Join(v, ", ")))
		}
		return &handshakeError{status: http.StatusUpgradeRequired, reason: RefusedVersion,
			msg: "unsupported Sec-WebSocket-Version " + got + ": this server speaks version 13"}
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return bad("it needs exactly one Sec-WebSocket-Key header, got %d", len(keys))
	}
	if k, err := base64.StdEncoding.DecodeString(strings.TrimSpace(keys[0])); err != nil || len(k) != 16 {
		return bad("Sec-WebSocket-Key must be 16 random bytes in base64 (24 characters)")
	}
	return nil
}

// joinConnection puts a Connection header sent over several lines into
// one: the relay and the library read only the first line, and the list
// checkHandshake accepted must be the one that upgrades (or the handler
// would run for a request that then gets 426).
func joinConnection(r *http.Request) {
	if cs := r.Header.Values("Connection"); len(cs) > 1 {
		r.Header.Set("Connection", strings.Join(cs, ", "))
	}
}

// write answers a refused handshake.
func (e *handshakeError) write(w http.ResponseWriter) {
	if e.status == http.StatusUpgradeRequired {
		w.Header().Set("Sec-WebSocket-Version", "13")
	}
	w.Header().Set("Connection", "close")
	http.Error(w, e.msg, e.status)
}

// clip bounds a client-sent value quoted back in a message.
func clip(s string) string {
	const max = 32
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// logClip bounds a client-sent value quoted in a log line: a refusal is
// logged for every request that earns one.
func logClip(s string) string { return logtext.Cut(s, 256) }

// logClipLong bounds a script's error quoted in a log line, traceback
// included, as crash reports do.
func logClipLong(s string) string { return logtext.Cut(s, 8<<10) }

// deflateOffer reports whether the request's Sec-WebSocket-Extensions
// hold a permessage-deflate offer the server can take as offered. RFC 7692 §5 asks a server to decline an
// offer with an unknown, repeated or invalid parameter; the library would
// take any header that contains "permessage-deflate" (and answer
// "x-permessage-deflate-nope" with an extension the client never offered)
// and ignores server_max_window_bits (its window is always 15 bits, and
// its answer never names it), so those offers are declined here and the
// connection goes on uncompressed. The server never takes over a context
// either way, and inflates whatever window the client uses.
func deflateOffer(r *http.Request) bool {
	for _, offer := range strings.Split(strings.Join(r.Header.Values("Sec-WebSocket-Extensions"), ","), ",") {
		params := strings.Split(offer, ";")
		if strings.TrimSpace(params[0]) != "permessage-deflate" {
			continue
		}
		ok, seen := true, map[string]bool{}
		for _, p := range params[1:] {
			k, v, hasValue := strings.Cut(p, "=")
			k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)
			switch {
			case seen[k]:
				ok = false
			case k == "server_no_context_takeover", k == "client_no_context_takeover":
				ok = !hasValue
			case k == "client_max_window_bits":
				bits, err := strconv.Atoi(v)
				ok = !hasValue || err == nil && bits >= 8 && bits <= 15 && v[0] != '0'
			default: // server_max_window_bits, or unknown
				ok = false
			}
			seen[k] = true
			if !ok {
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
