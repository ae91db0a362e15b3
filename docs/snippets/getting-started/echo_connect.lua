local http = require("http")
local json = require("json")

local function handler()
    local pid = process.spawn("hello:echo", "hello:processes")
    http.response():header("X-WS-Relay", json.encode({target_pid = pid}))
end

return { handler = handler }
