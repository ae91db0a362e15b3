-- The rooms service: one process, so a room is never created twice. It finds
-- a room's process by its registered name, or starts it, and transfers the
-- connection there with ws.control.
local function main()
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then
            return
        end
        if msg:topic() == "place" then
            local d = msg:payload():data()
            local name = "chat.room:" .. d.room
            local hub = process.registry.lookup(name)
            if not hub then
                hub = process.spawn("chat:room", "chat:processes", d.room)
                process.registry.register(name, hub)
            end
            process.send(d.client_pid, "ws.control", {
                target_pid = hub,
                metadata = {nick = d.nick, room = d.room},
            })
        end
    end
end

return { main = main }
