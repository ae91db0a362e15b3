return { main = function()
    local t = {}
    for i = 1, 1e9 do t[i] = string.rep("h", 1000) .. i end
end }
