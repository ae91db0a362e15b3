-- Tells the probe it started, then fails: the service restarts it.
return { main = function(word)
    process.send("probe", word, process.pid())
    error("crash on purpose")
end }
