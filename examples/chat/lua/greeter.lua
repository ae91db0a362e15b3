-- The first target of every connection: checks the nick and the room, then
-- asks the rooms service to move the connection into its room, and ends.
local time = require("time")

local function valid(s)
    return type(s) == "string" and #s >= 1 and #s <= 24 and s:match("^[%w_%-]+$") ~= nil
end

local function main()
    local inbox = process.inbox()
    -- A connection that never opens should not keep a greeter forever.
    local give_up = time.after("30s")
    while true do
        local r = channel.select{ inbox:case_receive(), give_up:case_receive() }
        if r.channel == give_up or not r.ok then
            return
        end
        local msg = r.value
        local data = msg:payload():data()
        if msg:topic() == "ws.join" then
            local nick, room = data.metadata.nick, data.metadata.room
            if not valid(nick) or not valid(room) then
                process.send(data.client_pid, "ws.close", {
                    code = 4001,
                    reason = "nick and room: 1 to 24 letters, digits, - or _",
                })
                return
            end
            process.send("chat:rooms", "place", {client_pid = data.client_pid, nick = nick, room = room})
        elseif msg:topic() == "ws.leave" then
            return -- moved into its room, or the client left first
        end
    end
end

return { main = main }
