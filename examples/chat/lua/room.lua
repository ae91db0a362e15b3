-- One room. Its members are the PIDs of its clients in the process group
-- named after the room: each client's greeter joins it there, so one
-- broadcast reaches every member, with one message per node. Who is in the
-- room comes from the group's monitor; a member's nick and why it left come
-- from its greeter. A room that nobody is in or entering ends, which frees
-- its cluster-wide name.
local json = require("json")
local pg = require("pg")
local time = require("time")

local function main(room)
    local groups = assert(pg.open("chat:pg"))
    local sub, _, err = groups:monitor(room)
    if not sub then
        error(err)
    end

    -- people[client PID] = {nick =, greeter =, inside =, gone =, reason =}:
    -- entering (the nick is kept for it), then inside (the group has it),
    -- then gone (the group lost it) until its greeter has said why.
    local people = {}
    local nicks = {} -- nick -> client PID, for those entering or inside
    local by_greeter = {} -- greeter PID -> client PID

    local function names()
        local out = {}
        for _, p in pairs(people) do
            if p.inside then
                out[#out + 1] = p.nick
            end
        end
        table.sort(out)
        return out
    end

    local function send(pid, event)
        process.send(pid, "ws.send", {type = "text", data = json.encode(event)})
    end

    -- say sends an event to every member, wherever its node.
    local function say(event)
        groups:broadcast(room, "ws.send", {type = "text", data = json.encode(event)})
    end

    local function forget(pid)
        local p = people[pid]
        people[pid], by_greeter[p.greeter] = nil, nil
        if nicks[p.nick] == pid then
            nicks[p.nick] = nil
        end
        process.unmonitor(p.greeter)
    end

    local function left(pid)
        local p = people[pid]
        forget(pid)
        say({event = "left", room = room, nick = p.nick, reason = p.reason, members = names()})
    end

    -- The group's monitor: a member came in, or went.
    local function joined(pid)
        local p = people[pid]
        if p and not p.inside and not p.gone then
            p.inside = true
            -- The newcomer is in the group, so it hears of its own arrival
            -- too; then its welcome, which comes before anything the room
            -- says next (what one sender sends one process keeps its order).
            say({event = "joined", room = room, nick = p.nick, members = names()})
            send(pid, {event = "welcome", room = room, nick = p.nick, members = names()})
        end
    end

    local function went(pid)
        local p = people[pid]
        if p and p.inside then
            p.inside, p.gone = false, true
            if nicks[p.nick] == pid then
                nicks[p.nick] = nil
            end
            if p.reason then
                left(pid)
            end
        end
    end

    -- A greeter: a client asks in, says something, or is leaving.
    local function enter(greeter, client, nick)
        if people[client] and people[client].reason then
            left(client) -- it left and came back before the group said so
        end
        if nicks[nick] then
            send(client, {event = "error", text = "the nick " .. nick .. " is taken in #" .. room})
            process.send(client, "ws.close", {code = 4002, reason = "nick taken"})
            return
        end
        people[client] = {nick = nick, greeter = greeter}
        nicks[nick], by_greeter[greeter] = client, client
        process.monitor(greeter) -- its end without a word (its node lost) is an EXIT
        process.send(greeter, "entered", {room = room})
    end

    local function leaving(client, reason)
        local p = people[client]
        if not p then
            return
        end
        p.reason = reason
        if p.gone then
            left(client)
        elseif not p.inside then
            forget(client) -- it never came in: nobody was told it would
        end
    end

    -- The monitor's buffer filled: it ended with an "overflow" event. A new
    -- monitor's members are current: what changed meanwhile is applied.
    local function resync()
        sub:close()
        local members, err
        sub, members, err = groups:monitor(room)
        if not sub then
            error(err)
        end
        local now = {}
        for _, pid in ipairs(members) do
            now[pid] = true
        end
        for pid, p in pairs(people) do
            if now[pid] then
                joined(pid)
            else
                went(pid)
            end
        end
    end

    local inbox, events, changes = process.inbox(), process.events(), sub:channel()
    local ticks = time.ticker("5s"):channel() -- presence, every 5 s
    local opened = false -- someone entered
    repeat
        local r = channel.select{ inbox:case_receive(), events:case_receive(), changes:case_receive(), ticks:case_receive() }
        if r.channel == inbox then
            if not r.ok then
                return -- cancelled
            end
            local msg = r.value
            local topic, d = msg:topic(), msg:payload():data()
            local p = people[d.client_pid]
            if topic == "enter" then
                opened = true
                enter(msg:from(), d.client_pid, d.nick)
            elseif p and msg:from() ~= p.greeter then
                -- only a member's greeter speaks for it
            elseif topic == "leaving" then
                leaving(d.client_pid, d.reason)
            elseif topic == "say" and p and p.inside then
                say({event = "message", room = room, nick = p.nick, text = d.text, at = time.now()})
            end
        elseif r.channel == changes then
            if not r.ok or r.value.kind == "overflow" then
                resync()
                changes = sub:channel()
            else
                for _, pid in ipairs(r.value.data.PIDs) do
                    if r.value.kind == "member.joined" then
                        joined(pid)
                    else
                        went(pid)
                    end
                end
            end
        elseif r.channel == events then
            -- A greeter that ended without saying why its client left:
            -- its node was lost (or it failed).
            local client = by_greeter[r.value.from]
            if r.value.kind == process.event.EXIT and client then
                local lost = r.value.result and r.value.result.error == "noconnection"
                leaving(client, people[client].reason or (lost and "node_down" or "greeter_failed"))
            end
        elseif next(people) == nil then
            break -- a tick, and nobody entered since the room started
        else
            say({event = "presence", room = room, members = names()})
        end
    until opened and next(people) == nil
    -- Nobody is in the room nor entering it: free the name now, so that a
    -- client that asks for the room next starts a new one.
    process.registry.unregister("chat.room:" .. room)
end

return { main = main }
