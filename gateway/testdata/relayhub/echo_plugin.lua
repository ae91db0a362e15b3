-- The echo_ plugin, started by the first message for it: sends back
-- what it got, with the topic the hub gave it.
local json = require("json")

local function run(args)
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then return end
        local payload = msg:payload():data()
        if type(payload) == "table" and payload.conn_pid then
            process.send(payload.conn_pid, "ws.send", json.encode({type = "echo", topic = msg:topic(), data = payload.data, user_id = args.user_id}))
        end
    end
end

return { run = run }
