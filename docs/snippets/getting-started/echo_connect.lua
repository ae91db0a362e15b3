local http = require("http")
local json = require("json")

local function handler()
    local req = http.request()
    local res = http.response()
    -- Only a WebSocket upgrade gets a process: a plain GET (a browser tab,
    -- curl) would leave one waiting for a client that never comes.
    if (req:header("Upgrade") or ""):lower() ~= "websocket" then
        res:set_status(http.STATUS.UPGRADE_REQUIRED)
        res:write("connect with a WebSocket\n")
        return
    end
    local pid, err = process.spawn("hello:echo", "hello:processes")
    if not pid then
        res:set_status(http.STATUS.SERVICE_UNAVAILABLE)
        res:write("cannot start a session: " .. err .. "\n")
        return
    end
    res:header("X-WS-Relay", json.encode({target_pid = pid}))
end

return { handler = handler }
