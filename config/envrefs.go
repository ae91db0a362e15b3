package config

import (
	"path"
	"strings"

	"go.yaml.in/yaml/v3"
)

// envVars resolves the names of ${env:NAME} references: the env.variable
// entries of the app, by public name or entry id, read from their
// storages as the app loads; a name no variable declares is read from the
// process environment.
type envVars struct {
	os       func(string) (string, bool)
	storages map[string]*envStore // by entry id
	byName   map[string]*envVar
	byID     map[string]*envVar
}

type envStore struct {
	kind   string
	values map[string]string // static and file
	chain  []string          // router: storage ids
}

type envVar struct {
	id, key, storage string
	def              *string
}

// rawEnvEntry is what envVars needs of an env.* entry, decoded leniently:
// the entry is decoded and checked again with the others.
type rawEnvEntry struct {
	Name     string            `yaml:"name"`
	Kind     string            `yaml:"kind"`
	Variable string            `yaml:"variable"`
	Storage  string            `yaml:"storage"`
	Default  *string           `yaml:"default"`
	Values   map[string]string `yaml:"values"`
	Storages []string          `yaml:"storages"`
	FilePath string            `yaml:"file_path"`
	Auto     bool              `yaml:"auto_create"`
}

// scanEnv expands the references in the env.* entries of every file,
// which read the process environment only, and gathers the variables the
// references of all other entries read. The env entries' nodes are
// recorded in l.expanded, so that loadFile does not expand them twice.
func (l *loader) scanEnv(files []string, roots []*yaml.Node) {
	vars := &envVars{os: l.env, storages: map[string]*envStore{}, byName: map[string]*envVar{}, byID: map[string]*envVar{}}
	l.vars = vars
	l.expanded = map[*yaml.Node]bool{}
	for i, root := range roots {
		if root == nil {
			continue
		}
		ns := scalarAt(root, "namespace")
		entries := valueAt(root, "entries")
		if entries == nil || entries.Kind != yaml.SequenceNode {
			continue
		}
		for _, n := range entries.Content {
			if n.Kind != yaml.MappingNode || !strings.HasPrefix(scalarAt(n, "kind"), "env.") {
				continue
			}
			for _, p := range expandEnv(n, files[i], plainLookup(l.env)) {
				l.fail(p)
			}
			l.expanded[n] = true
			var e rawEnvEntry
			if n.Decode(&e) != nil || e.Name == "" {
				continue // reported when the entry is loaded
			}
			id := ns + ":" + e.Name
			full := func(ref string) string {
				if strings.Contains(ref, ":") {
					return ref
				}
				return ns + ":" + ref
			}
			switch e.Kind {
			case KindEnvVariable:
				v := &envVar{id: id, key: e.Variable, storage: full(e.Storage), def: e.Default}
				if v.key == "" {
					v.key = e.Name
				} else {
					vars.byName[e.Variable] = v
				}
				vars.byID[id] = v
			case KindEnvStorageRouter:
				st := &envStore{kind: e.Kind}
				for _, s := range e.Storages {
					st.chain = append(st.chain, full(s))
				}
				vars.storages[id] = st
			case KindEnvStorageStatic:
				vars.storages[id] = &envStore{kind: e.Kind, values: e.Values}
			case KindEnvStorageFile:
				// Read again (and its problems reported) when the entry
				// is checked; here a file that cannot be read holds nothing.
				values, _, _, _ := readEnvStorage(l.app.FS, path.Dir(files[i]), e.FilePath, e.Auto)
				vars.storages[id] = &envStore{kind: e.Kind, values: values}
			default:
				vars.storages[id] = &envStore{kind: e.Kind}
			}
		}
	}
}

// plainLookup is an OS lookup as expandValue takes it.
func plainLookup(os func(string) (string, bool)) func(string) (string, bool, string) {
	return func(name string) (string, bool, string) {
		if v, ok := os(name); ok && v != "" {
			return v, true, ""
		}
		return "", false, "environment variable " + name + " is not set"
	}
}

// lookup is the value of a reference's name: the variable's (its
// storage's, else its own default), or the process environment's when no
// variable has that name. An empty value counts as none. When there is no
// value, the text says what is missing.
func (v *envVars) lookup(name string) (string, bool, string) {
	ev, ok := v.byName[name]
	if !ok {
		ev, ok = v.byID[name]
	}
	if !ok {
		return plainLookup(v.os)(name)
	}
	if val, ok := v.read(ev.storage, ev.key, 0); ok && val != "" {
		return val, true, ""
	}
	if ev.def != nil {
		return *ev.def, true, ""
	}
	return "", false, "variable " + name + " (" + ev.id + ") has no value: its storage has no " + ev.key + " and it has no default"
}

// read asks a storage for a key; depth bounds the routers followed (a
// cycle of routers is reported when the entries are checked).
func (v *envVars) read(id, key string, depth int) (string, bool) {
	st := v.storages[id]
	if st == nil || depth > 16 {
		return "", false
	}
	switch st.kind {
	case KindEnvStorageOS:
		return v.os(key)
	case KindEnvStorageRouter:
		for _, s := range st.chain {
			if val, ok := v.read(s, key, depth+1); ok && val != "" {
				return val, true
			}
		}
		return "", false
	}
	val, ok := st.values[key] // memory storages are empty as the app loads
	return val, ok
}

// valueAt returns the value of key in a mapping node, or nil.
func valueAt(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalarAt(n *yaml.Node, key string) string {
	if v := valueAt(n, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}
