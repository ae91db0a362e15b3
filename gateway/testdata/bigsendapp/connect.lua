local http = require("http")
local json = require("json")

local function handler()
    local pid = process.spawn("target", "app:processes")
    http.response():header("X-WS-Relay", json.encode({target_pid = pid, message_topic = "ws.message"}))
end

return { handler = handler }
