local http = require("http")
local json = require("json")

local function handler()
    local res = http.response()
    res:header("X-WS-Relay", json.encode({target_pid = process.registry.lookup("app:hub")}))
end

return { handler = handler }
