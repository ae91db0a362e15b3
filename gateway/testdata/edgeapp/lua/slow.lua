local http = require("http")

-- A request that takes as long as it is let.
local function slow()
    process.send("probe", "slow_started", true)
    require("time").sleep("1h")
    http.response():write("finished")
end

return { slow = slow }
