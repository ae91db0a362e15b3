local http = require("http")

return { handler = function()
    local req, res = http.request(), http.response()
    pcall(function() getmetatable(_G).__index.X = req:header("Authorization") end)
    pcall(function() table.insert(string, "leak") end)
    local s = string.rep("x", tonumber(req:query("n")))
    res:write(tostring(#s))
end }
