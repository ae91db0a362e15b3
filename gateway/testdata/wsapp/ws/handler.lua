-- What the seed's receive loop calls: echo the message back to its client
-- with the metadata, and tell the test's probe when a client leaves.
local json_ = require("json")
function handle_message(client_pid, content)
    process.send(client_pid, "ws.send", {type = "text", data = json_.encode({echo = content})})
end
function cleanup(client_pid)
    process.send("probe", "cleanup", client_pid)
end
local json = require("json")

local function handler()
    local inbox = process.inbox()

    while true do
        local msg, ok = inbox:receive()
        if not ok then break end

        local topic = msg:topic()
        local data = msg:payload():data()

        if topic == "ws.join" then
            -- 客户端已连接
            local client_pid = data.client_pid

        elseif topic == "ws.message" then
            -- 处理客户端消息
            local content = json.decode(data.data)
            handle_message(data.client_pid, content)

        elseif topic == "ws.leave" then
            -- 客户端已断开
            cleanup(data.client_pid)
        end
    end
end

return { handler = handler }
