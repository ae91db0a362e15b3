local http = require("http")
local env = require("env")
local registry = require("registry")
local text = require("text")

local function handler()
    local word = env.get("GREETING")
    local plugins = {}
    for _, e in ipairs(registry.find({[".kind"] = "registry.entry", ["meta.type"] = "plugin"})) do
        table.insert(plugins, e.data.prefix)
    end
    table.sort(plugins)
    local res = http.response()
    res:set_content_type(http.CONTENT.JSON)
    res:write(text.greeting(word, http.request():params().name, plugins))
end

return { handler = handler }
