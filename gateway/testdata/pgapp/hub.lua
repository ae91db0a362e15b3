local pg = require("pg")

local function main()
    local g = assert(pg.open("app:pg"))
    local sub = assert(g:monitor("room"))
    local inbox, events = process.inbox(), sub:channel()
    while true do
        local r = channel.select{ inbox:case_receive(), events:case_receive() }
        if not r.ok then
            return
        end
        if r.channel == events then
            local ev = r.value
            if ev.kind == "member.left" then
                g:broadcast("room", "ws.send", {type = "text", data = "left " .. ev.data.PIDs[1]})
            end
        else
            local msg = r.value
            local d = msg:payload():data()
            if msg:topic() == "ws.join" then
                assert(g:join("room", d.client_pid))
                process.send(d.client_pid, "ws.send", {type = "text", data = "welcome " .. d.client_pid})
            elseif msg:topic() == "ws.message" then
                g:broadcast("room", "ws.send", {type = "text", data = d.data})
            end
        end
    end
end

return { main = main }
