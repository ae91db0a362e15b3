package config

// KindRegistryEntry is an entry of free-form data: its fields, besides
// name, kind and meta, are its data, which Lua code reads with the
// registry module.
const KindRegistryEntry = "registry.entry"

// RegistryKinds returns the registry kinds; StandardKinds includes them.
func RegistryKinds() []Kind {
	return []Kind{{KindRegistryEntry, func() Spec { return &RegistryEntry{} }}}
}

// RegistryEntry is free-form data; Entry.Data holds it.
type RegistryEntry struct{}

func (*RegistryEntry) Check(*Checker) {}
