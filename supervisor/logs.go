package supervisor

// restartLines names, in a line "N <kind> suppressed", the lines about a
// service's restarts that went past their limit of ratelog.PerSecond a
// second (a service failing as soon as it starts, with a short
// initial_delay; docs/config.md, "Log lines").
const restartLines = "lines about service restarts"

// maxLogError bounds a script's error, traceback included, quoted in a
// log line.
const maxLogError = 8 << 10
