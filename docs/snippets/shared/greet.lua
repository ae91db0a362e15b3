local http = require("http")
local text = require("text")

local function handler()
    local name = http.request():params().name
    local res = http.response()
    res:set_content_type(http.CONTENT.JSON)
    res:write(text.greeting(name))
end

return { handler = handler }
