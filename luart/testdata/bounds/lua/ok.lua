local http = require("http")

return { handler = function()
    local req, res = http.request(), http.response()
    -- What an earlier request may have tried to leave behind.
    res:write(tostring(X) .. " " .. tostring(string.X))
end }
