return { main = function() process.inbox():receive() end }
