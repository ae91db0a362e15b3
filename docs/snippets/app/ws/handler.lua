-- The connection's process: "demo" shows every way to send to the client,
-- "hub" moves the connection to the hub service.
local json = require("json")

local function handler()
    local inbox = process.inbox()
    while true do
        local msg, ok = inbox:receive()
        if not ok then
            return
        end
        local data = msg:payload():data()
        if msg:topic() == "ws.message" and data.data == "demo" then
            local client_pid = data.client_pid
            local binary_content = "\0\1\2"
            -- a text frame
            process.send(client_pid, "ws.send", {type = "text", data = json.encode({event = "update", value = 42})})

            -- a binary frame
            process.send(client_pid, "ws.send", {type = "binary", data = binary_content})

            -- close the connection
            process.send(client_pid, "ws.close", {code = 1000, reason = "Session ended"})
        elseif msg:topic() == "ws.message" and data.data == "hub" then
            local websocket_pid = data.client_pid
            local new_process_pid = process.registry.lookup("app:hub")
            process.send(websocket_pid, "ws.control", {
                target_pid = new_process_pid,
                message_topic = "ws.message"
            })
        end
    end
end

return { handler = handler }
