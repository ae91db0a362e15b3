local function idle()
    process.inbox():receive() -- until cancelled
end

return { idle = idle }
