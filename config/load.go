package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/wsrelay/wsrelay/internal/suggest"
)

// IndexFile is the name of the files Load reads.
const IndexFile = "_index.yaml"

// App is a loaded, valid configuration.
type App struct {
	// FS is the app directory; entry files and directories are relative to it.
	FS fs.FS
	// Dir is the app directory on disk when it was loaded from one
	// (LoadDir, DiagnoseDir); empty for an app loaded from an fs.FS.
	Dir string
	// Files are the _index.yaml files read, in order.
	Files []string
	// Entries in dependency order: every entry comes after the entries it
	// refers to. Start them in this order and stop them in reverse.
	Entries []*Entry

	byID map[string]*Entry
}

// Entry returns the entry of an id.
func (a *App) Entry(id string) (*Entry, bool) {
	e, ok := a.byID[id]
	return e, ok
}

// OfKind returns the entries of a kind, in dependency order.
func (a *App) OfKind(kind string) []*Entry {
	var out []*Entry
	for _, e := range a.Entries {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// Entry is one configured thing.
type Entry struct {
	ID        string         // namespace:name
	Namespace string         // the file's namespace
	Name      string         // the entry's name
	Kind      string         // e.g. "http.endpoint"
	File      string         // the YAML file, relative to the app directory
	Line      int            // where the entry starts
	Meta      map[string]any // the entry's meta, as written
	// Data is the entry's fields as written, besides name, kind and meta,
	// before environment references are expanded: what the registry
	// module shows.
	Data map[string]any
	// Spec holds the kind's fields: a pointer to one of the types in
	// kinds.go (*HTTPService, *HTTPEndpoint, ...), checked and with its
	// references resolved to full ids.
	Spec any

	lines map[string]int // field path → line
	refs  []ref
}

// FieldLine returns the line of a field ("path", "meta.router",
// "lifecycle.restart.max_delay"), or the entry's line.
func (e *Entry) FieldLine(field string) int {
	if l, ok := e.lines[field]; ok {
		return l
	}
	return e.Line
}

// Problem returns a problem with a field of e.
func (e *Entry) Problem(field, format string, args ...any) *Problem {
	return &Problem{File: e.File, Line: e.FieldLine(field), Entry: e.ID, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Dir returns the directory of the entry's file, relative to the app directory.
func (e *Entry) Dir() string { return path.Dir(e.File) }

// LoadDir loads the app in a directory of the file system.
func LoadDir(dir string, kinds []Kind) (*App, error) {
	app, probs := DiagnoseDir(dir, kinds)
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return app, nil
}

// Load loads the app in fsys with the given kinds (StandardKinds, or the
// caller's own list). On any problem it returns nil and Errors listing all
// of them.
func Load(fsys fs.FS, kinds []Kind) (*App, error) {
	app, probs := Diagnose(fsys, kinds)
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return app, nil
}

// DiagnoseDir is Diagnose for a directory of the file system.
func DiagnoseDir(dir string, kinds []Kind) (*App, Errors) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, Errors{{File: dir, Msg: "cannot read the app directory: " + err.Error()}}
	}
	if !st.IsDir() {
		return nil, Errors{{File: dir, Msg: "is not a directory"}}
	}
	app, probs := Diagnose(os.DirFS(dir), kinds)
	if app != nil {
		app.Dir = dir
	}
	return app, probs
}

// Diagnose loads like Load but always returns what it could read, with
// the problems (sorted). It is for diagnostics, such as checking Lua
// sources of an app whose YAML has problems too: never run an app that
// came with problems.
func Diagnose(fsys fs.FS, kinds []Kind) (*App, Errors) {
	l := &loader{app: &App{FS: fsys, byID: map[string]*Entry{}}, kinds: map[string]Kind{}, env: os.LookupEnv, unusable: map[string]string{}}
	for _, k := range kinds {
		l.kinds[k.Name] = k
	}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			l.fail(&Problem{File: p, Msg: "cannot read: " + err.Error()})
			return nil
		}
		if d.IsDir() && p != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return fs.SkipDir // .git and friends, and test fixtures
		}
		if !d.IsDir() && d.Name() == IndexFile {
			l.app.Files = append(l.app.Files, p)
		}
		return nil
	})
	if err != nil {
		l.fail(&Problem{File: ".", Msg: "cannot list the app directory: " + err.Error()})
	}
	if len(l.probs) == 0 && !slices.Contains(l.app.Files, IndexFile) {
		// The app directory is the one with the top _index.yaml: a
		// directory that merely holds apps (a repository's root) is not one.
		msg := "no " + IndexFile + " found in the app directory"
		if len(l.app.Files) > 0 {
			msg = "no " + IndexFile + " at the top of the app directory (an app directory has one; give the app's directory, like " + path.Dir(l.app.Files[0]) + ")"
		}
		l.fail(&Problem{File: ".", Msg: msg})
		l.app.Files = nil
	}
	roots := make([]*yaml.Node, len(l.app.Files))
	for i, f := range l.app.Files {
		roots[i] = l.readFile(f)
	}
	l.link(roots)
	// Each entry's data as written, before environment references are
	// expanded: the registry module shows entries without the values of
	// the environment (secrets, often).
	raws := make([][]map[string]any, len(roots))
	for i, root := range roots {
		if root != nil {
			raws[i] = entryData(root)
		}
	}
	l.scanEnv(l.app.Files, roots)
	for i, f := range l.app.Files {
		if roots[i] != nil {
			l.loadFile(f, roots[i], raws[i])
		}
	}
	l.resolve()
	l.oneObserver()
	l.probs.Sort()
	if len(l.probs) > 0 && len(l.app.Entries) == 0 {
		l.app.Entries = l.entries // unordered: the order needs a valid app
	}
	return l.app, l.probs
}

type loader struct {
	app      *App
	kinds    map[string]Kind
	env      func(string) (string, bool)
	probs    Errors
	entries  []*Entry          // in file order
	unusable map[string]string // id → kind of entries reported and left out
	vars     *envVars          // what ${env:NAME} references read
	expanded map[*yaml.Node]bool
}

func (l *loader) fail(p *Problem) { l.probs = append(l.probs, p) }

// oneObserver refuses a second observer entry: a node serves one.
func (l *loader) oneObserver() {
	var first *Entry
	for _, e := range l.entries {
		if e.Kind != KindObserver {
			continue
		}
		if first == nil {
			first = e
			continue
		}
		l.fail(e.Problem("", "a second observer entry (the first is %s): a node serves one observer", first.ID))
	}
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.\-]*$`)

// fileHeader is the top level of an _index.yaml.
type fileHeader struct {
	Version   string      `yaml:"version"`
	Namespace string      `yaml:"namespace"`
	Entries   []yaml.Node `yaml:"entries"`
}

// readFile parses an _index.yaml; nil when it cannot (reported).
func (l *loader) readFile(file string) *yaml.Node {
	data, err := fs.ReadFile(l.app.FS, file)
	if err != nil {
		l.fail(&Problem{File: file, Msg: "cannot read: " + err.Error()})
		return nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		l.fail(yamlProblem(file, err))
		return nil
	}
	if len(doc.Content) == 0 {
		l.fail(&Problem{File: file, Msg: "the file is empty; it needs version, namespace and entries"})
		return nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		l.fail(&Problem{File: file, Line: root.Line, Msg: "the file must be a mapping with version, namespace and entries"})
		return nil
	}
	return root
}

// loadFile decodes the entries of a file read by readFile (and linked:
// components' requirements are written into their targets already); raw
// is each entry's data as written.
func (l *loader) loadFile(file string, root *yaml.Node, raw []map[string]any) {
	fail := func(line int, field, format string, args ...any) {
		l.fail(&Problem{File: file, Line: line, Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for _, u := range unknownKeys(root, reflect.TypeOf(fileHeader{})) {
		fail(u.Line, u.Value, "unknown field (a file has version, namespace and entries)%s", suggest.DidYouMean(u.Value, u.Known))
	}
	for _, p := range expandEnvSkip(root, file, l.vars.lookup, l.expanded) {
		l.fail(p)
	}
	var h fileHeader
	if err := root.Decode(&h); err != nil {
		l.fail(yamlProblem(file, err))
		return
	}
	if h.Version == "" {
		fail(keyLine(root, "version", root.Line), "version", "missing; write version: \"1.0\"")
	} else if h.Version != "1" && h.Version != "1.0" {
		fail(keyLine(root, "version", root.Line), "version", "unsupported version %q (this wsrelay reads \"1.0\")", h.Version)
	}
	nsLine := keyLine(root, "namespace", root.Line)
	switch {
	case h.Namespace == "":
		fail(nsLine, "namespace", "missing; every file names the namespace of its entries")
	case !namePattern.MatchString(h.Namespace):
		fail(nsLine, "namespace", "%q may use only letters, digits, '_', '.' and '-'", h.Namespace)
	}
	for i := range h.Entries {
		if e := l.loadEntry(file, h.Namespace, &h.Entries[i]); e != nil && i < len(raw) {
			e.Data = raw[i]
		}
	}
}

func (l *loader) loadEntry(file, ns string, n *yaml.Node) *Entry {
	if n.Kind != yaml.MappingNode {
		l.fail(&Problem{File: file, Line: n.Line, Field: "entries", Msg: "an entry must be a mapping with name and kind"})
		return nil
	}
	var head struct {
		Name string         `yaml:"name"`
		Kind string         `yaml:"kind"`
		Meta map[string]any `yaml:"meta"`
	}
	e := &Entry{Namespace: ns, File: file, Line: n.Line, lines: map[string]int{}}
	recordLines(n, "", e.lines)
	if err := n.Decode(&head); err != nil {
		l.fail(yamlProblem(file, err))
		return nil
	}
	e.Name, e.Kind, e.Meta = head.Name, head.Kind, head.Meta
	e.ID = ns + ":" + head.Name
	switch {
	case head.Name == "":
		l.fail(&Problem{File: file, Line: n.Line, Field: "name", Msg: "missing; every entry has a name"})
		return nil
	case !namePattern.MatchString(head.Name):
		l.fail(e.Problem("name", "%q may use only letters, digits, '_', '.' and '-'", head.Name))
		return nil
	}
	kind, ok := l.kinds[head.Kind]
	if !ok {
		if strings.HasPrefix(head.Kind, "security.") {
			l.fail(e.Problem("kind", "%s: wsrelay has no security module; docs/porting.md (Security) shows how to port it by hand", head.Kind))
			l.broken(e)
			return nil
		}
		if head.Kind == "" {
			l.fail(e.Problem("kind", "missing; known kinds: %s", strings.Join(l.kindNames(), ", ")))
		} else {
			l.fail(e.Problem("kind", "unknown kind %q%s; known kinds: %s", head.Kind, suggest.DidYouMean(head.Kind, l.kindNames()), strings.Join(l.kindNames(), ", ")))
		}
		l.broken(e)
		return nil
	}
	spec := kind.New()
	var unknown []unknownKey
	if _, freeForm := spec.(*RegistryEntry); !freeForm {
		unknown = unknownKeys(n, reflect.TypeOf(spec).Elem(), "name", "kind", "meta")
	}
	for _, u := range unknown {
		msg := "unknown field for kind " + head.Kind + suggest.DidYouMean(u.Value, u.Known)
		if u.Value == "security" {
			msg = "wsrelay has no security module; docs/porting.md (Security) shows how to port it by hand"
		}
		l.fail(&Problem{File: file, Line: u.Line, Entry: e.ID, Field: u.Path, Msg: msg})
	}
	if err := n.Decode(spec); err != nil {
		l.broken(e)
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, msg := range te.Errors {
				l.fail(&Problem{File: file, Entry: e.ID, Line: lineOf(msg, e.Line), Msg: stripLine(msg)})
			}
		} else {
			l.fail(yamlProblem(file, err))
		}
		return nil
	}
	e.Spec = spec
	if prev, dup := l.app.byID[e.ID]; dup {
		l.fail(e.Problem("name", "duplicate id %s: already defined at %s:%d", e.ID, prev.File, prev.Line))
		return nil
	}
	l.app.byID[e.ID] = e
	l.entries = append(l.entries, e)
	return e
}

// entryData decodes the fields of each entry of a file, besides name,
// kind and meta; an entry that is not a mapping has nil.
func entryData(root *yaml.Node) []map[string]any {
	var out []map[string]any
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "entries" || root.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for _, n := range root.Content[i+1].Content {
			var m map[string]any
			if n.Kind == yaml.MappingNode && n.Decode(&m) == nil {
				delete(m, "name")
				delete(m, "kind")
				delete(m, "meta")
			}
			out = append(out, m)
		}
	}
	return out
}

// broken records an entry that was reported and could not be decoded:
// references to it are not reported again as dangling.
func (l *loader) broken(e *Entry) {
	if _, dup := l.unusable[e.ID]; !dup && l.app.byID[e.ID] == nil {
		l.unusable[e.ID] = e.Kind
	}
}

func (l *loader) kindNames() []string {
	names := make([]string, 0, len(l.kinds))
	for n := range l.kinds {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// unknownKey is a mapping key that the target type has no field for.
type unknownKey struct {
	Path  string
	Value string
	Line  int
	Known []string // the keys allowed at that level, for "did you mean"
}

// unknownKeys walks a mapping against a struct type's yaml tags, also into
// nested structs, and returns the keys the type does not have. Maps
// (options, meta) take any keys.
func unknownKeys(n *yaml.Node, t reflect.Type, extra ...string) []unknownKey {
	return unknownKeysAt(n, t, "", extra)
}

func unknownKeysAt(n *yaml.Node, t reflect.Type, prefix string, extra []string) []unknownKey {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind != yaml.MappingNode || t.Kind() != reflect.Struct {
		return nil
	}
	fields := map[string]reflect.Type{}
	yamlFields(t, fields)
	var out []unknownKey
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if slices.Contains(extra, k.Value) {
			continue
		}
		ft, ok := fields[k.Value]
		if !ok {
			known := append(slices.Collect(maps.Keys(fields)), extra...)
			slices.Sort(known)
			out = append(out, unknownKey{Path: prefix + k.Value, Value: k.Value, Line: k.Line, Known: known})
			continue
		}
		out = append(out, unknownKeysAt(v, ft, prefix+k.Value+".", nil)...)
	}
	return out
}

// yamlFields collects the yaml field names of a struct type, following
// inline embedded structs.
func yamlFields(t reflect.Type, into map[string]reflect.Type) {
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case opts == "inline":
			yamlFields(f.Type, into)
		case name != "" && name != "-":
			into[name] = f.Type
		}
	}
}

// recordLines records the line of every key path of a mapping.
func recordLines(n *yaml.Node, prefix string, lines map[string]int) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		lines[prefix+k.Value] = k.Line
		recordLines(v, prefix+k.Value+".", lines)
	}
}

func keyLine(n *yaml.Node, key string, def int) int {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return def
}

var linePrefix = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// yamlProblem turns a YAML parse error into a problem with its line.
func yamlProblem(file string, err error) *Problem {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	return &Problem{File: file, Line: lineOf(msg, 0), Msg: "invalid YAML: " + stripLine(msg)}
}

func lineOf(msg string, def int) int {
	if m := linePrefix.FindStringSubmatch(msg); m != nil {
		var n int
		fmt.Sscan(m[1], &n)
		return n
	}
	return def
}

func stripLine(msg string) string {
	return strings.TrimPrefix(linePrefix.ReplaceAllString(msg, ""), "yaml: ")
}
