-- Every connection goes to the central hub, with its user in the
-- metadata (here from the query; an app checks credentials first).
local http = require("http")
local json = require("json")

local function handler()
    local req = http.request()
    local res = http.response()
    local central, err = process.registry.lookup("app:central")
    if not central then
        res:set_status(http.STATUS.SERVICE_UNAVAILABLE)
        res:write_json({error = err})
        return
    end
    res:set_header("X-WS-Relay", json.encode({
        target_pid = tostring(central),
        metadata = {user_id = req:query("user_id")},
    }))
end

return { handler = handler }
