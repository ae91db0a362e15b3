-- Built by a call, so `wsrelay check` cannot see which functions the
-- table has: the misspelt method is found when the entry first runs.
return setmetatable({ handler = function() end }, {})
