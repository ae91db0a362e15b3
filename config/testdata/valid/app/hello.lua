local http = require("http")
return { handler = function() http.response():write("hi") end }
