// Package wsrelay is the WebSocket relay middleware: it turns an HTTP
// request into a WebSocket connection that is itself a process, and relays
// frames between the client and a target process.
//
// The flow: the wrapped handler runs; if its response carries the
// X-WS-Relay header (JSON: target_pid, message_topic, heartbeat_interval,
// metadata), the relay checks the target is alive, upgrades the connection,
// spawns the connection process (its PID is the client PID), makes it
// monitor the target, sends ws.join and relays both ways. The header never
// reaches the client; a response without it passes through untouched.
//
// The connection process is reactive: while idle it has no goroutine of
// its own, only the socket's reader. Frames from the client go straight
// from the reader to the current target. Messages to the client PID
// (ws.send, ws.close, ws.control, any other topic) are handled by the
// process and written through a bounded outbound queue by a writer that
// runs only while there is something to write.
//
// docs/relay.md is the user guide: every topic, payload, close code and
// option.
package wsrelay
