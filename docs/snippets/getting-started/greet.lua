local http = require("http")

local function greet()
    local req = http.request()
    http.response():write_json({hello = req:param("name")})
end

return { greet = greet }
