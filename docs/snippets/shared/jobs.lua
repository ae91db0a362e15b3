local logger = require("logger")

local function dispatch()
    local job = {n = 1}
    local sp = process.with_context({request_id = "r1"}):with_name("worker_r1")
    local pid, err = sp:spawn("shared:worker", "shared:processes", job)
    process.inbox():receive()
end

local function work(job)
    local ctx = require("ctx")
    logger:named("worker"):info("job done", {request_id = ctx.get("request_id"), n = job.n})
end

return { dispatch = dispatch, work = work }
