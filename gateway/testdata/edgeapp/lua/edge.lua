local http = require("http")
local json = require("json")

-- Spawns a target and asks for the relay. On a router without
-- websocket_relay the header must not reach the client.
local function connect()
    local pid = process.spawn("app:target", "app:processes")
    process.send("probe", "spawned", tostring(pid))
    http.response():header("X-WS-Relay", json.encode({target_pid = tostring(pid), metadata = {secret = "internal"}}))
end

return { connect = connect }
