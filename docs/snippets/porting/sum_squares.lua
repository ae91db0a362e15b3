local function main(numbers)
    local results = channel.new(#numbers)
    for _, n in ipairs(numbers) do
        coroutine.spawn(function()
            results:send(n * n)
        end)
    end
    local total = 0
    for _ = 1, #numbers do
        total = total + results:receive()
    end
    return total
end

return { main = main }
