// Package config loads an app's configuration: YAML files of entries.
//
// Every file named _index.yaml below the app directory is read. Each has a
// version, a namespace and a list of entries; an entry has a name, a kind,
// optional meta and the fields of its kind. Its id is namespace:name, and a
// reference without a namespace means the referring entry's namespace.
//
// Loading is strict and complete: unknown fields, unknown kinds, duplicate
// ids, dangling references, references to the wrong kind, bad durations,
// missing source files and dependency cycles are all collected, each with
// its file, line, entry id and field, and returned together as Errors.
// A caller never gets half a configuration.
//
// The package knows YAML, not HTTP or Lua: it checks shapes and references
// and reads Lua sources, and leaves compiling them and building servers to
// the packages that do that (they add their problems to the same Errors).
package config
