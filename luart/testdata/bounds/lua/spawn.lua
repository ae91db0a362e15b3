local http = require("http")

return { handler = function()
    local pid, err = process.spawn("hog", "bounds:processes")
    http.response():write(tostring(pid or err))
end }
