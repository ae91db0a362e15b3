local time = require("time")
local logger = require("logger")

local function main(opts)
    local ticker = time.ticker(opts.every * time.SECOND)
    local inbox = process.inbox()
    local ticks = 0
    while true do
        local r = channel.select{ticker:channel():case_receive(), inbox:case_receive()}
        if r.channel == ticker:channel() then
            ticks = ticks + 1
            logger.info("clock ticked", {ticks = ticks, at = r.value:format(time.TIME_ONLY)})
        elseif not r.ok then
            return -- cancelled: the ticker stops with the process
        end
    end
end

return { main = main }
