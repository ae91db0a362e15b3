-- The hub: connections transferred here are its clients.
local json = require("json")

local clients = {}

local function broadcast(message)
    local data = json.encode(message)
    for pid, _ in pairs(clients) do
        process.send(pid, "ws.send", {type = "text", data = data})
    end
end

local function on_message(topic, data)
    if topic == "ws.join" then
        clients[data.client_pid] = true
    elseif topic == "ws.leave" then
        clients[data.client_pid] = nil
    elseif topic == "ws.message" then
        broadcast({from = data.client_pid, text = data.data})
    end
end

local function main()
    local inbox, events = process.inbox(), process.events()
    while true do
        local r = channel.select{ inbox:case_receive(), events:case_receive() }
        if r.channel == events then
            if r.value.kind == process.event.CANCEL then return "cancelled" end
        elseif not r.ok then
            return "inbox closed"
        else
            local msg = r.value
            on_message(msg:topic(), msg:payload():data())
        end
    end
end

return { main = main }
