local http = require("http")

-- spawn starts idle processes until the host refuses one, then answers
-- with how many it started and the refusal.
local function spawn()
    local n, err = 0, nil
    for i = 1, 100000 do
        local pid, e = process.spawn("idle", "app:processes")
        if not pid then err = e break end
        n = n + 1
    end
    http.response():write(n .. "|" .. tostring(err))
end

return { spawn = spawn }
