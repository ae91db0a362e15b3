local function on_frame(data)
    error("cannot handle " .. data)
end

local function handler()
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then break end
        if msg:topic() == "ws.message" then
            on_frame(msg:payload():data().data)
        end
    end
end

return { handler = handler }
