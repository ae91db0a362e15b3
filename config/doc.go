// Package config loads an app's configuration: YAML files of entries.
//
// The app directory is the one with an _index.yaml at its top; every file
// named _index.yaml below it is read too, except under testdata and dot
// directories. Each has a version, a namespace and a list of entries; an
// entry has a name, a kind, optional meta and the fields of its kind. Its
// id is namespace:name, and a reference without a namespace means the
// referring entry's namespace. Values may read the environment with
// ${env:NAME} or ${env:NAME:-default} (env.go).
//
// Loading is strict and complete: unknown fields, unknown kinds, duplicate
// ids, dangling references, references to the wrong kind, bad durations,
// missing source files and dependency cycles are all collected, each with
// its file, line, entry id and field, and returned together as Errors.
// Misspelt kinds and fields come with the closest known name; an entry
// reported for its kind or fields is not reported again as missing by the
// entries that refer to it.
// A caller never gets half a configuration.
//
// The package knows YAML, not HTTP or Lua: it checks shapes and references
// and reads Lua sources, and leaves compiling them and building servers to
// the packages that do that (they add their problems to the same Errors).
package config
