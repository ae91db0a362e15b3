-- One per connection, on the client's node, for as long as the connection
-- lasts: it is the connection's target. It checks the nick and the room,
-- finds the room's process (or starts it), and, once the room took the
-- nick, joins the client's PID to the room's process group, so that the
-- room's broadcasts reach the client as frames. Only a process of the
-- client's node may join it to a group or take it out of one, which is why
-- room switches happen here. What the client says goes to its room.
local json = require("json")
local pg = require("pg")
local time = require("time")

-- How many times a client tries to enter a room whose process ended
-- before answering (it had just emptied): each try finds or starts the
-- room again.
local TRIES = 5

local function valid(s)
    return type(s) == "string" and #s >= 1 and #s <= 24 and s:match("^[%w_%-]+$") ~= nil
end

-- find returns the PID of the room's process, and starts one when no node
-- runs the room. Rooms are registered cluster-wide (CONSISTENT), so on
-- nodes of a cluster every member of a room meets in one room process; on
-- a node alone the name is the node's own.
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
    -- Another process started the room at the same moment, and its
    -- registration came first: use that room.
    process.cancel(new)
    hub = process.registry.lookup(name)
    if hub then
        return hub
    end
    return nil, rerr
end

local function main()
    local groups = assert(pg.open("chat:pg"))
    local inbox, events = process.inbox(), process.events()
    -- A connection that never opens should not keep a greeter forever.
    local give_up = time.after("30s")

    local client, nick -- from ws.join
    local room, hub -- the room the client is in or entering, and its process
    local inside = false -- the room took the nick and the client is in its group
    local tries = 0

    local function tell(event)
        process.send(client, "ws.send", {type = "text", data = json.encode(event)})
    end

    local function close(code, reason)
        process.send(client, "ws.close", {code = code, reason = reason})
    end

    -- enter asks the room's process to take the client in. It answers
    -- "entered", or closes the client itself when the nick is taken. Its
    -- end (emptied, or its node lost) comes as an EXIT event.
    local function enter(name)
        local pid, err = find(name)
        if not pid then
            print("chat: no room " .. name .. ": " .. tostring(err))
            close(1011, "no room")
            return
        end
        room, hub, inside = name, pid, false
        process.monitor(hub)
        process.send(hub, "enter", {client_pid = client, nick = nick})
    end

    -- leave takes the client out of its room. The room hears why before
    -- the group changes (the same sender, then the same stream).
    local function leave(reason)
        if not hub then
            return
        end
        process.send(hub, "leaving", {client_pid = client, reason = reason})
        process.unmonitor(hub)
        if inside then
            groups:leave(room, client) -- fails only when the client is gone already
        end
        room, hub, inside = nil, nil, false
    end

    local function command(text)
        local cmd = json.decode(text)
        if not inside or type(cmd) ~= "table" then
            return
        end
        if cmd.type == "say" and type(cmd.text) == "string" and #cmd.text > 0 then
            process.send(hub, "say", {client_pid = client, text = cmd.text:sub(1, 500)})
        elseif cmd.type == "switch" and type(cmd.room) == "string" and cmd.room ~= room then
            if valid(cmd.room) then
                leave("transferred")
                tries = 0
                enter(cmd.room)
            else
                tell({event = "error", text = "room names: 1 to 24 letters, digits, - or _"})
            end
        end
    end

    while true do
        local r = channel.select{ inbox:case_receive(), events:case_receive(), give_up:case_receive() }
        if r.channel == give_up then
            if not client then
                return
            end
        elseif r.channel == events then
            local ev = r.value
            if ev.kind == process.event.EXIT and ev.from == hub then
                local lost = ev.result and ev.result.error == "noconnection"
                if inside then
                    -- A room ends only once it is empty: its node was lost.
                    close(1011, lost and "target node lost" or "room failed")
                    room, hub, inside = nil, nil, false
                elseif tries + 1 < TRIES and not lost then
                    -- It emptied and ended as the request went: again, once
                    -- every node has seen its name go (milliseconds).
                    tries = tries + 1
                    time.sleep((50 * tries) .. "ms")
                    enter(room)
                else
                    close(1011, lost and "target node lost" or "no room")
                    room, hub = nil, nil
                end
            end
        elseif not r.ok then
            return
        else
            local msg = r.value
            local topic, data = msg:topic(), msg:payload():data()
            if topic == "ws.join" then
                client, nick = data.client_pid, data.metadata.nick
                if not valid(nick) or not valid(data.metadata.room) then
                    close(4001, "nick and room: 1 to 24 letters, digits, - or _")
                else
                    enter(data.metadata.room)
                end
            elseif topic == "entered" and msg:from() == hub then
                local ok, err = groups:join(room, client)
                if ok then
                    inside = true -- the room welcomes the client when it sees it in the group
                else
                    print("chat: cannot join " .. room .. ": " .. tostring(err))
                    leave("error")
                    close(1011, "cannot join the room")
                end
            elseif topic == "ws.message" then
                command(data.data)
            elseif topic == "ws.leave" then
                leave(data.reason)
                return
            end
        end
    end
end

return { main = main }
