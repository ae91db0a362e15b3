local http = require("http")
local json = require("json")

local function handler()
    local req = http.request()
    local path = req:path()
    local target
    if path == "/ws/lua" then
        target = process.spawn("bench:echo", "bench:processes")
    elseif path == "/ws/shared" then
        target = process.registry.lookup("bench:shared_echo")
    elseif path == "/ws/pgroom" then
        target = process.registry.lookup("bench:pg_room")
    else
        target = process.registry.lookup("bench:the_room")
    end
    http.response():header("X-WS-Relay", json.encode({target_pid = target}))
end

return { handler = handler }
