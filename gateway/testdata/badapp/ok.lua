return { handler = function() end }
