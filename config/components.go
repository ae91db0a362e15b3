package config

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Components, as the original runtime has them, without a package
// manager: a component is a folder of the app with its own _index.yaml
// holding an ns.definition; it declares the values it needs as
// ns.requirement entries, each with the targets (entry and field path)
// its value is written into; the app mounts it with an ns.dependency
// naming it and giving those values as parameters. The values are written
// into the targets' YAML before any entry is decoded (the link stage), so
// that the targets are checked with them like any other value.

// The component kinds.
const (
	KindNSDefinition  = "ns.definition"
	KindNSRequirement = "ns.requirement"
	KindNSDependency  = "ns.dependency"
)

// ComponentKinds returns the component kinds; StandardKinds includes them.
func ComponentKinds() []Kind {
	return []Kind{
		{KindNSDefinition, func() Spec { return &NSDefinition{} }},
		{KindNSRequirement, func() Spec { return &NSRequirement{} }},
		{KindNSDependency, func() Spec { return &NSDependency{} }},
	}
}

// NSDefinition marks the folder of its file as a component.
type NSDefinition struct {
	Module string `yaml:"module"` // default: the entry's name
	Readme string `yaml:"readme"`
}

func (*NSDefinition) Check(*Checker) {}

// NSRequirement is a value the component needs, and where it goes.
type NSRequirement struct {
	// Default makes the requirement optional: the value when no
	// dependency gives one.
	Default any `yaml:"default"`
	Targets []struct {
		Entry string `yaml:"entry"`
		Path  string `yaml:"path"`
	} `yaml:"targets"`
}

func (s *NSRequirement) Check(c *Checker) {
	if len(s.Targets) == 0 {
		c.Fail("targets", "missing; a requirement writes its value into at least one entry")
	}
}

// NSDependency mounts a component of the app tree with parameters.
type NSDependency struct {
	Component  string `yaml:"component"`
	Version    string `yaml:"version"` // accepted: the component is the app's own copy
	Parameters []struct {
		Name  string `yaml:"name"`
		Value any    `yaml:"value"`
	} `yaml:"parameters"`
}

func (s *NSDependency) Check(c *Checker) { c.Required("component", s.Component) }

// rawEntry is an entry's YAML before decoding, for the link stage.
type rawEntry struct {
	file, ns, name, kind string
	node                 *yaml.Node
}

func (r rawEntry) id() string { return r.ns + ":" + r.name }

// field returns the value node of a key of the entry's mapping.
func (r rawEntry) field(key string) *yaml.Node { return mapValue(r.node, key) }

func (r rawEntry) line(key string) int {
	if n := r.field(key); n != nil {
		return n.Line
	}
	return r.node.Line
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// rawEntries lists the entries of the files read.
func rawEntries(files []string, roots []*yaml.Node) []rawEntry {
	var out []rawEntry
	for i, root := range roots {
		if root == nil {
			continue
		}
		ns := scalar(mapValue(root, "namespace"))
		list := mapValue(root, "entries")
		if list == nil || list.Kind != yaml.SequenceNode {
			continue
		}
		for _, n := range list.Content {
			if n.Kind == yaml.MappingNode {
				out = append(out, rawEntry{file: files[i], ns: ns, name: scalar(mapValue(n, "name")), kind: scalar(mapValue(n, "kind")), node: n})
			}
		}
	}
	return out
}

// link writes each requirement's value into its targets.
func (l *loader) link(roots []*yaml.Node) {
	entries := rawEntries(l.app.Files, roots)
	byID := map[string]rawEntry{}
	for _, e := range entries {
		byID[e.id()] = e
	}
	fail := func(e rawEntry, key, format string, args ...any) {
		l.fail(&Problem{File: e.file, Line: e.line(key), Entry: e.id(), Field: key, Msg: fmt.Sprintf(format, args...)})
	}
	// Components: the folder of each ns.definition's file.
	type component struct {
		def    rawEntry
		dir    string
		module string
	}
	var comps []component
	for _, e := range entries {
		if e.kind == KindNSDefinition {
			module := scalar(e.field("module"))
			if module == "" {
				module = e.name
			}
			comps = append(comps, component{def: e, dir: path.Dir(e.file), module: module})
		}
	}
	within := func(file, dir string) bool {
		return dir == "." || file == dir || strings.HasPrefix(file, dir+"/")
	}
	// The value given to each requirement, by requirement id.
	given := map[string]*yaml.Node{}
	givenBy := map[string]rawEntry{}
	mounted := map[string]rawEntry{} // requirement id → the dependency mounting its component
	for _, d := range entries {
		if d.kind != KindNSDependency {
			continue
		}
		name := scalar(d.field("component"))
		if name == "" {
			continue // Check reports it
		}
		var comp *component
		for i, c := range comps {
			if c.dir == name || strings.HasSuffix(c.dir, "/"+name) || c.module == path.Base(name) {
				comp = &comps[i]
				break
			}
		}
		if comp == nil {
			// A folder of that name with an _index.yaml is one too: older
			// components have no ns.definition.
			for _, f := range l.app.Files {
				if dir := path.Dir(f); dir == name || strings.HasSuffix(dir, "/"+name) {
					comp = &component{dir: dir, module: path.Base(name)}
					break
				}
			}
		}
		if comp == nil {
			fail(d, "component", "no component %s in the app: a component is a folder of the app (such as vendor/%s) with an _index.yaml, usually with an ns.definition entry", name, name)
			continue
		}
		var reqs []rawEntry
		for _, r := range entries {
			if r.kind == KindNSRequirement && within(r.file, comp.dir) {
				reqs = append(reqs, r)
				mounted[r.id()] = d
			}
		}
		params := d.field("parameters")
		if params != nil && params.Kind == yaml.SequenceNode {
			for _, p := range params.Content {
				pname, val := scalar(mapValue(p, "name")), mapValue(p, "value")
				i := slices.IndexFunc(reqs, func(r rawEntry) bool { return r.name == pname || r.id() == pname })
				switch {
				case pname == "":
					l.fail(&Problem{File: d.file, Line: p.Line, Entry: d.id(), Field: "parameters", Msg: "a parameter has a name and a value"})
				case i < 0:
					var names []string
					for _, r := range reqs {
						names = append(names, r.name)
					}
					l.fail(&Problem{File: d.file, Line: p.Line, Entry: d.id(), Field: "parameters", Msg: fmt.Sprintf("component %s has no requirement %s (its requirements: %s)", name, pname, strings.Join(names, ", "))})
				case given[reqs[i].id()] != nil && !sameValue(given[reqs[i].id()], val):
					other := givenBy[reqs[i].id()]
					l.fail(&Problem{File: d.file, Line: p.Line, Entry: d.id(), Field: "parameters", Msg: fmt.Sprintf("%s is given another value by %s (%s:%d)", reqs[i].id(), other.id(), other.file, other.node.Line)})
				case val == nil:
					l.fail(&Problem{File: d.file, Line: p.Line, Entry: d.id(), Field: "parameters", Msg: fmt.Sprintf("parameter %s has no value", pname)})
				default:
					given[reqs[i].id()], givenBy[reqs[i].id()] = val, d
				}
			}
		}
	}
	for _, r := range entries {
		if r.kind != KindNSRequirement {
			continue
		}
		val := given[r.id()]
		if val == nil {
			val = r.field("default")
		}
		if val == nil {
			if d, ok := mounted[r.id()]; ok {
				fail(d, "parameters", "missing parameter %s: the component's requirement %s (%s:%d) has no default", r.name, r.id(), r.file, r.node.Line)
			} else {
				fail(r, "default", "no value: no ns.dependency gives one and it has no default")
			}
			continue
		}
		targets := r.field("targets")
		if targets == nil || targets.Kind != yaml.SequenceNode {
			continue // Check reports it
		}
		for _, t := range targets.Content {
			id, p := scalar(mapValue(t, "entry")), scalar(mapValue(t, "path"))
			if id != "" && !strings.Contains(id, ":") {
				id = r.ns + ":" + id
			}
			target, ok := byID[id]
			if !ok {
				l.fail(&Problem{File: r.file, Line: t.Line, Entry: r.id(), Field: "targets", Msg: fmt.Sprintf("target entry %s is not defined", id)})
				continue
			}
			if err := inject(target.node, p, val); err != nil {
				l.fail(&Problem{File: r.file, Line: t.Line, Entry: r.id(), Field: "targets", Msg: fmt.Sprintf("path %q of %s: %v", p, id, err)})
			}
		}
	}
}

func sameValue(a, b *yaml.Node) bool {
	var x, y any
	if a.Decode(&x) != nil || b.Decode(&y) != nil {
		return false
	}
	return fmt.Sprint(x) == fmt.Sprint(y)
}

// maxPathDepth bounds a target path.
const maxPathDepth = 16

// inject writes val at p in the mapping n: ".a.b" sets field b of field a
// (making the mappings it lacks); a path ending in "+=" or "[]" appends to
// the list there (making it when missing).
func inject(n *yaml.Node, p string, val *yaml.Node) error {
	appendTo := false
	p = strings.TrimSpace(p)
	if rest, ok := strings.CutSuffix(p, "+="); ok {
		p, appendTo = rest, true
	} else if rest, ok := strings.CutSuffix(p, "[]"); ok {
		p, appendTo = rest, true
	}
	keys := strings.Split(strings.TrimPrefix(strings.TrimSpace(p), "."), ".")
	if p == "" || slices.Contains(keys, "") || len(keys) > maxPathDepth {
		return fmt.Errorf("not a field path like .meta.router or .middleware+=")
	}
	if keys[0] == "name" || keys[0] == "kind" {
		return fmt.Errorf("a requirement cannot change an entry's %s", keys[0])
	}
	cur := n
	for i, k := range keys {
		if cur.Kind != yaml.MappingNode {
			return fmt.Errorf("%s is not a mapping", strings.Join(keys[:i], "."))
		}
		next := mapValue(cur, k)
		last := i == len(keys)-1
		switch {
		case last && !appendTo:
			cp := *val
			if next != nil {
				*next = cp
			} else {
				cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k, Line: val.Line}, &cp)
			}
			return nil
		case last:
			cp := *val
			if next == nil {
				cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k, Line: val.Line}, &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: []*yaml.Node{&cp}, Line: val.Line})
				return nil
			}
			if next.Kind != yaml.SequenceNode {
				return fmt.Errorf("%s is not a list to append to", k)
			}
			next.Content = append(next.Content, &cp)
			return nil
		case next == nil:
			next = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: val.Line}
			cur.Content = append(cur.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k, Line: val.Line}, next)
		}
		cur = next
	}
	return nil
}
