-- Echoes every frame to the client that sent it. Per connection it ends
-- with its client; shared, it runs until cancelled.
local function main()
    local inbox = process.inbox()
    local clients = 0
    while true do
        local msg, ok = inbox:receive()
        if not ok then return end
        local topic = msg:topic()
        local d = msg:payload():data()
        if topic == "ws.message" then
            process.send(d.client_pid, "ws.send", {type = d.type, data = d.data})
        elseif topic == "ws.join" then
            clients = clients + 1
        elseif topic == "ws.leave" then
            clients = clients - 1
            if clients == 0 and process.registry.lookup("bench:shared_echo") ~= process.pid() then
                return
            end
        end
    end
end

return { main = main }
