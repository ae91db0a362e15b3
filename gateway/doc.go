// Package gateway runs an app: it builds the process hosts, Lua programs,
// services and HTTP servers that a loaded configuration describes, starts
// them in dependency order and stops them in reverse.
//
// Build checks everything that needs more than YAML to check (Lua syntax,
// module names, middleware and their options, route conflicts) and reports
// it with the configuration's own problems, so `wsrelay check` sees all
// of them at once. Build neither listens nor starts processes; Start does.
package gateway
