-- The rooms service: it finds a room's process by its registered name, or
-- starts it, and transfers the connection there with ws.control. Rooms are
-- registered CONSISTENT: when the node is in a cluster, one room process
-- serves the room for every node (a member on node B sees what a member on
-- node A says); on a node alone, the name is the node's own.
local function find(room)
    local name = "chat.room:" .. room
    local hub = process.registry.lookup(name)
    if hub then
        return hub
    end
    local new, err = process.spawn("chat:room", "chat:processes", room)
    if not new then
        return nil, err
    end
    local ok, rerr = process.registry.register(name, new, process.registry.CONSISTENT)
    if ok then
        return new
    end
    -- Another node started the room at the same moment, and its
    -- registration came first: use that room.
    process.cancel(new)
    hub = process.registry.lookup(name)
    if hub then
        return hub
    end
    return nil, rerr
end

local function main()
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then
            return
        end
        if msg:topic() == "place" then
            local d = msg:payload():data()
            local hub, err = find(d.room)
            if hub then
                process.send(d.client_pid, "ws.control", {
                    target_pid = hub,
                    metadata = {nick = d.nick, room = d.room},
                })
            else
                print("chat: no room " .. d.room .. ": " .. tostring(err))
                process.send(d.client_pid, "ws.close", {code = 1011, reason = "no room"})
            end
        end
    end
end

return { main = main }
