-- One room: the connections in it are transferred here, so this process is
-- their target. It tracks members from ws.join and ws.leave, broadcasts
-- messages, and shows who is online from the relay's heartbeats.
local json = require("json")
local time = require("time")

local function main(room)
    local members = {} -- client PID -> nick
    local last_presence = 0

    local function names()
        local out = {}
        for _, nick in pairs(members) do
            out[#out + 1] = nick
        end
        table.sort(out)
        return out
    end

    local function send(pid, event)
        process.send(pid, "ws.send", {type = "text", data = json.encode(event)})
    end

    -- broadcast sends an event to every member but except (which may be nil).
    local function broadcast(event, except)
        local data = json.encode(event)
        for pid in pairs(members) do
            if pid ~= except then
                process.send(pid, "ws.send", {type = "text", data = data})
            end
        end
    end

    local function taken(nick)
        for _, other in pairs(members) do
            if other == nick then
                return true
            end
        end
        return false
    end

    local function join(client, nick)
        if taken(nick) then
            send(client, {event = "error", text = "the nick " .. nick .. " is taken in #" .. room})
            process.send(client, "ws.close", {code = 4002, reason = "nick taken"})
            return
        end
        members[client] = nick
        send(client, {event = "welcome", room = room, nick = nick, members = names()})
        broadcast({event = "joined", room = room, nick = nick, members = names()}, client)
    end

    local function command(client, text)
        local nick = members[client]
        local cmd = json.decode(text)
        if not nick or type(cmd) ~= "table" then
            return
        end
        if cmd.type == "say" and type(cmd.text) == "string" and #cmd.text > 0 then
            broadcast({event = "message", room = room, nick = nick, text = cmd.text:sub(1, 500), at = time.now()})
        elseif cmd.type == "switch" and type(cmd.room) == "string" and cmd.room ~= room then
            if cmd.room:match("^[%w_%-]+$") and #cmd.room <= 24 then
                process.send("chat:rooms", "place", {client_pid = client, nick = nick, room = cmd.room})
            else
                send(client, {event = "error", text = "room names: 1 to 24 letters, digits, - or _"})
            end
        end
    end

    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then
            return
        end
        local topic, d = msg:topic(), msg:payload():data()
        if topic == "ws.join" then
            join(d.client_pid, d.metadata.nick)
        elseif topic == "ws.message" then
            command(d.client_pid, d.data)
        elseif topic == "ws.leave" then
            local nick = members[d.client_pid]
            if nick then
                members[d.client_pid] = nil
                broadcast({event = "left", room = room, nick = nick, reason = d.reason, members = names()})
            end
        elseif topic == "ws.heartbeat" and time.now():sub(last_presence):seconds() >= 3 then
            last_presence = time.now()
            broadcast({event = "presence", room = room, members = names()})
        end
    end
end

return { main = main }
