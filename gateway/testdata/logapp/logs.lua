local http = require("http")
local logger = require("logger")

-- Logs n lines with logger and n with print.
local function noisy()
    local n = tonumber(http.request():query("n")) or 0
    for i = 1, n do
        logger.info("tick", {i = i})
        print("tock", i)
    end
end

local function broken()
    error("broken on purpose")
end

return { noisy = noisy, broken = broken }
