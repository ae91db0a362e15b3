local json = require("json")

local function handler()
    local inbox = process.inbox()

    while true do
        local msg, ok = inbox:receive()
        if not ok then break end

        local topic = msg:topic()
        local from = msg:from()

        if topic == "ws.join" then
            local data = msg:payload():data()
            process.send(data.client_pid, "welcome", json.encode({user = data.metadata.user_id}))
        elseif topic == "ws.message" then
            local body = msg:payload():data()
            local message = json.decode(body)
            if message.type == "bye" then
                process.send(from, "ws.close", "Session ended")
            else
                process.send(from, "echo", json.encode(message))
            end
        elseif topic == "ws.leave" then
            break
        end
    end
end

return { handler = handler }
