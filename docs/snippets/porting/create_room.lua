local http = require("http")
local logger = require("logger")

local function handler()
    local req = http.request()
    local res = http.response()
    if req:content_type() ~= http.CONTENT.JSON or not req:has_body() then
        res:set_status(http.STATUS.UNSUPPORTED_MEDIA_TYPE)
        res:write_json({error = "send a JSON body"})
        return
    end
    local room = req:params().name
    logger.info("room created", {room = room})
    res:set_status(http.STATUS.CREATED)
    res:write_json({room = room})
end

return { handler = handler }
