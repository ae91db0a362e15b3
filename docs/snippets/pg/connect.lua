-- GET /ws/room?nick=ada: every connection's target is the room service.
local http = require("http")
local json = require("json")

local function handler()
    local req = http.request()
    http.response():header("X-WS-Relay", json.encode({
        target_pid = process.registry.lookup("app:room"),
        metadata = {nick = req:query("nick") or "anonymous"},
    }))
end

return { handler = handler }
