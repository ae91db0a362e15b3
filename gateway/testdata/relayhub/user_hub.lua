-- The hub of one user: its connections, and the plugins (process.lua
-- entries with meta.type relay.plugin) that its messages go to, chosen by
-- the prefix of their type.
local json = require("json")
local registry = require("registry")
local logger = require("logger")

local function main(args)
    local user = args.user_id
    local inbox, events = process.inbox(), process.events()
    local plugins = {}
    local clients, count = {}, 0

    local function start(p)
        local pid, err = process.spawn_monitored(p.id, "app:processes",
            {user_id = user, user_metadata = args.user_metadata, user_hub_pid = process.pid(), config = {}})
        if pid then
            p.pid, p.status = pid, "running"
            if count > 0 then process.send(pid, "resume", {}) end
        else
            p.status = "failed"
            logger.error("plugin not started", {plugin = p.id, error = err})
        end
    end

    for _, e in ipairs(registry.find({[".kind"] = "process.lua", ["meta.type"] = "relay.plugin"})) do
        table.insert(plugins, {prefix = e.meta.command_prefix, id = e.id, status = "not_started", auto = e.meta.auto_start})
    end
    table.sort(plugins, function(a, b) return a.prefix < b.prefix end)
    for _, p in ipairs(plugins) do
        if p.auto then start(p) end
    end

    local function fail(client, code)
        process.send(client, "error", {code = code})
    end

    local function each_running(topic)
        for _, p in ipairs(plugins) do
            if p.status == "running" then process.send(p.pid, topic, {}) end
        end
    end

    local function update()
        process.send(args.central, "hub.activity_update", {user_id = user, client_count = count})
    end

    local function route(client, text)
        local m = json.decode(text)
        if type(m) ~= "table" then return fail(client, "invalid_json") end
        if type(m.type) ~= "string" or m.type == "" then return fail(client, "unknown_command") end
        for _, p in ipairs(plugins) do
            if m.type:sub(1, #p.prefix) == p.prefix then
                if p.status == "not_started" then start(p) end
                if p.status ~= "running" then return fail(client, "plugin_failed") end
                process.send(p.pid, m.type:sub(#p.prefix + 1), {conn_pid = client, type = m.type, data = m.data})
                return
            end
        end
        fail(client, "plugin_not_found")
    end

    while true do
        local r = channel.select{inbox:case_receive(), events:case_receive()}
        if not r.ok then return end
        if r.channel == inbox then
            local msg = r.value
            local topic = msg:topic()
            if topic == "ws.join" then
                local client = msg:payload():data().client_pid
                clients[client], count = true, count + 1
                update()
                if count == 1 then each_running("resume") end
                local list = {}
                for _, p in ipairs(plugins) do
                    table.insert(list, {prefix = p.prefix, process_id = p.pid or "", status = p.status})
                end
                process.send(client, "welcome", {user_id = user, client_count = count, plugins = list})
            elseif topic == "ws.leave" then
                local client = msg:payload():data().client_pid
                if clients[client] then
                    clients[client], count = nil, count - 1
                    update()
                    if count == 0 then each_running("shutdown") end
                end
            elseif topic == "ws.message" then
                route(msg:from(), msg:payload():data())
            end
        else
            local ev = r.value
            if ev.kind == process.event.CANCEL then return end
            for _, p in ipairs(plugins) do
                if ev.kind == process.event.EXIT and p.pid == ev.from then
                    p.status = ev.result.error and "failed" or "stopped"
                end
            end
        end
    end
end

return { main = main }
