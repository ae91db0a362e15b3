-- The central hub: finds or spawns the hub of a connection's user and
-- moves the connection to it (ws.control); refuses a connection without
-- a user, or past the user's limit.
local logger = require("logger")

local function refuse(client, code)
    process.send(client, "error", {code = code})
    process.send(client, "ws.close", {code = 4000, reason = code})
end

local function main(opts)
    local max = opts.max_connections_per_user
    local inbox, events = process.inbox(), process.events()
    local hubs = {}   -- user_id -> {pid, clients}
    local users = {}  -- hub pid -> user_id
    while true do
        local r = channel.select{inbox:case_receive(), events:case_receive()}
        if not r.ok then return end
        if r.channel == inbox then
            local msg = r.value
            local topic = msg:topic()
            if topic == "ws.join" then
                local join = msg:payload():data()
                local user = join.metadata.user_id
                local hub = user and hubs[user]
                if user == nil or user == "" then
                    refuse(join.client_pid, "missing_user_id")
                elseif hub and hub.clients >= max then
                    refuse(join.client_pid, "max_connections_reached")
                else
                    if not hub then
                        local pid, err = process.spawn_monitored("app:user_hub", "app:processes",
                            {user_id = user, central = process.pid(), user_metadata = join.metadata})
                        if not pid then
                            logger.error("user hub not created", {user = user, error = err})
                            refuse(join.client_pid, "hub_creation_failed")
                        else
                            hub = {pid = pid, clients = 0}
                            hubs[user], users[pid] = hub, user
                        end
                    end
                    if hub then
                        -- counted at once, so that the limit holds before
                        -- the user hub's next update
                        hub.clients = hub.clients + 1
                        process.send(join.client_pid, "ws.control", {target_pid = hub.pid})
                    end
                end
            elseif topic == "hub.activity_update" then
                local u = msg:payload():data()
                if hubs[u.user_id] then
                    hubs[u.user_id].clients = u.client_count
                end
            end
        else
            local ev = r.value
            if ev.kind == process.event.CANCEL then
                return
            elseif ev.kind == process.event.EXIT and users[ev.from] then
                hubs[users[ev.from]] = nil
                users[ev.from] = nil
            end
        end
    end
end

return { main = main }
