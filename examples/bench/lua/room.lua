-- A broadcast room: "fanout:<text>" from any member goes to every member;
-- anything else is echoed to its sender.
local function main()
    local members = {}
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then return end
        local topic = msg:topic()
        local d = msg:payload():data()
        if topic == "ws.join" then
            members[d.client_pid] = true
        elseif topic == "ws.leave" then
            members[d.client_pid] = nil
        elseif topic == "ws.message" then
            if d.data:sub(1, 7) == "fanout:" then
                for pid in pairs(members) do
                    process.send(pid, "ws.send", {type = "text", data = d.data})
                end
            else
                process.send(d.client_pid, "ws.send", {type = d.type, data = d.data})
            end
        end
    end
end

return { main = main }
