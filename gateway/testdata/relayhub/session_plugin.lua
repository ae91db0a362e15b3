-- The session_ plugin: answers get_state, hears resume and shutdown.
local json = require("json")
local logger = require("logger")

local function run(args)
    local inbox, events = process.inbox(), process.events()
    local active = false
    while true do
        local r = channel.select{inbox:case_receive(), events:case_receive()}
        if not r.ok then return end
        if r.channel == events then
            if r.value.kind == process.event.CANCEL then return end
        else
            local msg = r.value
            local topic, payload = msg:topic(), msg:payload():data()
            if topic == "resume" then
                active = true
                logger.info("session resumed", {user = args.user_id})
            elseif topic == "shutdown" then
                active = false
                logger.info("session shut down", {user = args.user_id})
            elseif topic == "get_state" then
                process.send(payload.conn_pid, "ws.send", json.encode({
                    type = "session_state",
                    data = {user_id = args.user_id, active = active, key = payload.data and payload.data.key},
                }))
            end
        end
    end
end

return { run = run }
