// Package appdata gives Lua code what an app declares besides its code:
// its environment variables (env.storage.* and env.variable entries, for
// the env module) and its entries (for the registry module). Both are
// built from a loaded config.App.
package appdata
