-- Tells the test's probe when its client joined and why it left.
local function main()
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then break end
        if msg:topic() == "ws.join" then
            process.send("probe", "join", true)
        elseif msg:topic() == "ws.leave" then
            process.send("probe", "leave", msg:payload():data().reason)
        end
    end
end

return { main = main }
