-- The seeds' handler, with the check for plain (non-WebSocket) requests.
local http = require("http")
local json = require("json")

local function handler()
    local req = http.request()
    local res = http.response()

    if req:header("Upgrade") ~= "websocket" then
        res:set_status(426)
        return
    end

    local pid = process.spawn("app.ws:handler", "app:processes")
    res:header("X-WS-Relay", json.encode({target_pid = tostring(pid)}))
end

return { handler = handler }
