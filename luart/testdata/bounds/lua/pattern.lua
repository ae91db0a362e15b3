local http = require("http")

return { handler = function()
    local a = ("a"):rep(18):find(("a*"):rep(18) .. "b")
    http.response():write(tostring(a))
end }
