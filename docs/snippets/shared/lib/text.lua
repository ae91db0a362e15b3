local json = require("json")

local M = {}

function M.title(s)
    return (s:gsub("^%l", string.upper))
end

function M.greeting(name)
    return json.encode({hello = M.title(name)})
end

return M
