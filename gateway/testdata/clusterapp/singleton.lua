-- Tells its node's probe it runs, then answers pings until cancelled;
-- "crash" makes it fail.
return { main = function()
    process.send("probe", "up", process.pid())
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then return end
        if msg:topic() == "crash" then error("crash on purpose") end
        if msg:topic() == "ping" then process.send(msg:from(), "pong", process.pid()) end
    end
end }
