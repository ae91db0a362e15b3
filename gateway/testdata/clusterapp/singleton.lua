-- Tells its node's probe it runs, then answers pings until cancelled;
-- "crash" makes it fail. Cancelled by a process (its supervisor, when the
-- service's claim moved), it says goodbye to it before it ends.
return { main = function()
    process.send("probe", "up", process.pid())
    local inbox, events = process.inbox(), process.events()
    while true do
        local r = channel.select{ events:case_receive(), inbox:case_receive() }
        if r.channel == events then
            if r.value.kind == process.event.CANCEL then
                if r.value.from then process.send(r.value.from, "bye", process.pid()) end
                return
            end
        elseif not r.ok then
            return
        else
            local msg = r.value
            if msg:topic() == "crash" then error("crash on purpose") end
            if msg:topic() == "ping" then process.send(msg:from(), "pong", process.pid()) end
        end
    end
end }
