local json = require("json")

local M = {}

function M.title(s)
    return (s:gsub("^%l", string.upper))
end

function M.greeting(word, name, plugins)
    return json.encode({[word] = M.title(name), plugins = plugins})
end

return M
