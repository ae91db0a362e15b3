-- 发送文本消息
process.send(client_pid, "ws.send", {
    type = "text",
    data = json.encode({event = "update", value = 42})
})

-- 发送二进制
process.send(client_pid, "ws.send", {
    type = "binary",
    data = binary_content
})

-- 关闭连接
process.send(client_pid, "ws.close", {
    code = 1000,
    reason = "Session ended"
})
