package gateway

import (
	"bytes"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/wsrelay/wsrelay/internal/logtext"
	"github.com/wsrelay/wsrelay/internal/ratelog"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// relayHeaderGuard removes the X-WS-Relay header from every response of an
// endpoint. On a router with websocket_relay the relay consumes the header
// before the guard sees it; anywhere else the header would hand internal
// PIDs and metadata to the client, so it is removed and logged (a warning
// the first time per endpoint, then debug).
type relayHeaderGuard struct {
	next     http.Handler
	endpoint string
	router   string
	log      *ratelog.Logger
	warned   atomic.Bool
}

func (g *relayHeaderGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	gw := &guardWriter{ResponseWriter: w, g: g}
	g.next.ServeHTTP(gw, r)
	gw.strip() // a handler that wrote nothing: net/http writes its header after it returns
}

// stripped logs a removed header.
func (g *relayHeaderGuard) stripped(raw string) {
	level := slog.LevelDebug
	if g.warned.CompareAndSwap(false, true) {
		level = slog.LevelWarn
	}
	g.log.Log(level, "an endpoint set X-WS-Relay on a router without websocket_relay: the header was removed from the response and no WebSocket was opened; a process spawned for it is not cancelled by the relay (list websocket_relay under the router's post_middleware, or stop setting the header)",
		"endpoint", g.endpoint, "router", g.router, "header", logtext.Cut(raw, 200))
}

// guardWriter strips the relay header before the response header is sent.
type guardWriter struct {
	http.ResponseWriter
	g *relayHeaderGuard
}

func (gw *guardWriter) strip() {
	h := gw.ResponseWriter.Header()
	if vs := h.Values(wsrelay.HeaderName); len(vs) > 0 {
		h.Del(wsrelay.HeaderName)
		gw.g.stripped(vs[0])
	}
}

func (gw *guardWriter) WriteHeader(code int) {
	gw.strip()
	gw.ResponseWriter.WriteHeader(code)
}

func (gw *guardWriter) Write(b []byte) (int, error) {
	gw.strip()
	return gw.ResponseWriter.Write(b)
}

// Flush lets handlers that stream flush through the guard.
func (gw *guardWriter) Flush() {
	gw.strip()
	_ = http.NewResponseController(gw.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the real writer.
func (gw *guardWriter) Unwrap() http.ResponseWriter { return gw.ResponseWriter }

// mentionsRelayHeader reports whether Lua source code names the relay
// header, for the build-time warning.
func mentionsRelayHeader(code []byte) bool {
	return bytes.Contains(bytes.ToLower(code), []byte("x-ws-relay"))
}
