local http = require("http")

local function get_user()
    local req = http.request()
    http.response():write_json({id = req:param("id")})
end

return { get_user = get_user }
