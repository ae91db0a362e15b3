local function main()
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then return end
        local data = msg:payload():data()
        if msg:topic() == "ws.message" then
            process.send(data.client_pid, "ws.send", {type = data.type, data = "echo: " .. data.data})
        elseif msg:topic() == "ws.leave" then
            return
        end
    end
end

return { main = main }
