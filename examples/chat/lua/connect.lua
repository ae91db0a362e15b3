-- GET /ws/chat?nick=ada&room=lobby: spawn a greeter for this connection and
-- ask the relay to connect the client to it. The greeter runs on this
-- node, the client's, for as long as the connection lasts.
local http = require("http")
local json = require("json")

local function handler()
    local req = http.request()
    local res = http.response()

    -- Only WebSocket requests get a process: a plain GET would leave one
    -- waiting for a client that never comes.
    if (req:header("Upgrade") or ""):lower() ~= "websocket" then
        res:set_status(426)
        res:write("connect with a WebSocket\n")
        return
    end

    local pid, err = process.spawn("chat:greeter", "chat:processes")
    if not pid then
        res:set_status(503)
        res:write("cannot start a session: " .. err .. "\n")
        return
    end

    res:header("X-WS-Relay", json.encode({
        target_pid = pid,
        metadata = {
            nick = req:query("nick") or "",
            room = req:query("room") or "lobby",
        },
    }))
end

return { handler = handler }
