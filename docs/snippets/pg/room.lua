-- A room whose members are its clients' PIDs in the group "lobby": what a
-- client says goes to the group, one message per node; who comes and goes
-- comes from the group's monitor.
local json = require("json")
local pg = require("pg")

local function main()
    local lobby, err = pg.open("app:pg")
    if not lobby then
        error(err)
    end
    local sub, members = lobby:monitor("lobby")
    local nicks = {} -- client PID -> nick, for this node's clients

    local function say(event)
        lobby:broadcast("lobby", "ws.send", {type = "text", data = json.encode(event)})
    end

    local inbox, events = process.inbox(), sub:channel()
    while true do
        local r = channel.select{ inbox:case_receive(), events:case_receive() }
        if not r.ok then
            return
        end
        if r.channel == events then
            local ev = r.value -- {system="pg", kind=, path="lobby", data={Group=, PIDs={...}}}
            if ev.kind == "member.joined" then
                members = lobby:get_members("lobby")
            elseif ev.kind == "member.left" then
                for _, pid in ipairs(ev.data.PIDs) do
                    say({event = "left", nick = nicks[pid] or pid})
                    nicks[pid] = nil
                end
            end
        else
            local msg = r.value
            local d = msg:payload():data()
            if msg:topic() == "ws.join" then
                nicks[d.client_pid] = d.metadata.nick
                lobby:join("lobby", d.client_pid) -- the client, not this process
                say({event = "joined", nick = d.metadata.nick})
            elseif msg:topic() == "ws.message" then
                say({event = "message", nick = nicks[d.client_pid], text = d.data})
            end
        end
    end
end

return { main = main }
