local function main()
    process.inbox():receive()
end

return { main = main }
