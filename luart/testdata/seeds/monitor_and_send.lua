-- 从另一个进程监控 WebSocket 连接
process.monitor(websocket_pid)

-- 从任何进程向 WebSocket 客户端发送消息
process.send(websocket_pid, "ws.send", {type = "text", data = "hello"})
