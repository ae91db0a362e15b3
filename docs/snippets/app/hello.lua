local function handler()
    -- ...
end

return { handler = handler }
