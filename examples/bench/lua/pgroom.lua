-- The broadcast room as a process group: this node's hub joins each of
-- its clients to the group "room"; "fanout:<text>" from any member goes
-- to every member, on every node, with one pg broadcast (one cluster
-- message per other node with members); anything else is echoed to its
-- sender. A member's connection ending takes it out of the group.
local pg = require("pg")

local function main()
    local groups = assert(pg.open("bench:pg"))
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then return end
        local topic = msg:topic()
        local d = msg:payload():data()
        if topic == "ws.join" then
            local joined, err = groups:join("room", d.client_pid)
            if not joined then
                process.send(d.client_pid, "ws.close", {code = 1011, reason = tostring(err)})
            end
        elseif topic == "ws.message" then
            if d.data:sub(1, 7) == "fanout:" then
                groups:broadcast("room", "ws.send", {type = "text", data = d.data})
            else
                process.send(d.client_pid, "ws.send", {type = d.type, data = d.data})
            end
        end
    end
end

return { main = main }
