local http = require("http")

local function hello()
    local req = http.request()
    http.response():write_json({hello = req:param("name"), lang = req:query("lang")})
end

local function echo()
    local body, err = http.request():body_json()
    local res = http.response()
    if err then
        res:set_status(400)
        res:write_json({error = err})
        return
    end
    res:set_status(201)
    res:write_json({got = body})
end

local function files()
    http.response():write_json({rest = http.request():param("rest")})
end

local function slow()
    process.send("probe", "slow_started", true)
    require("time").sleep("300ms")
    http.response():write("finished")
end

return { hello = hello, echo = echo, files = files, slow = slow }
