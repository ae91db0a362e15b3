-- On any message from its client: a table holding one 1 MiB string of
-- control bytes six times (6 MiB as a value, 36 MiB of JSON), then "ok".
local function target()
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then return end
        if msg:topic() == "ws.message" then
            local client = msg:payload():data().client_pid
            local s = ("\1"):rep(1048576)
            process.send(client, "big", {s, s, s, s, s, s})
            process.send(client, "small", "ok")
        end
    end
end

return { target = target }
