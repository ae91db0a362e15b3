local http = require("http")

local function handler()
    local n = math.min(tonumber(http.request():params().n) or 0, 100)
    local numbers = {}
    for i = 1, n do
        numbers[i] = i
    end
    local total, err = process.exec("sum_squares_proc", "ported:processes", numbers)
    local res = http.response()
    if err then
        res:set_status(http.STATUS.INTERNAL_SERVER_ERROR)
        res:write_json({error = err})
        return
    end
    res:write_json({n = n, total = total})
end

return { handler = handler }
