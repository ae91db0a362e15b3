local http = require("http")
local json = require("json")

local function handler()
    local pid, err = process.spawn(http.request():param("kind"), "app:processes")
    if not pid then
        error(err)
    end
    http.response():header("X-WS-Relay", json.encode({target_pid = pid}))
end

return { handler = handler }
