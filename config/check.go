package config

import (
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Kind is one kind of entry: its name and a constructor of its Spec.
type Kind struct {
	Name string
	New  func() Spec
}

// Spec is the kind-specific part of an entry, decoded from YAML. Check
// validates it, resolves its references and fills in defaults.
type Spec interface {
	Check(c *Checker)
}

// Checker is what a Spec's Check reports to.
type Checker struct {
	l *loader
	e *Entry
}

// Entry returns the entry being checked.
func (c *Checker) Entry() *Entry { return c.e }

// Fail reports a problem with a field.
func (c *Checker) Fail(field, format string, args ...any) {
	c.l.fail(c.e.Problem(field, format, args...))
}

// Required reports a missing value.
func (c *Checker) Required(field, v string) bool {
	if v == "" {
		c.Fail(field, "missing")
		return false
	}
	return true
}

// Ref resolves the reference in *id to a full id (adding the entry's
// namespace when it has none), checks that it names an entry of one of the
// kinds, and records the dependency.
func (c *Checker) Ref(field string, id *string, kinds ...string) {
	if !c.Required(field, *id) {
		return
	}
	full := *id
	if !strings.Contains(full, ":") {
		full = c.e.Namespace + ":" + full
	}
	*id = full
	target, ok := c.l.app.byID[full]
	if _, reported := c.l.unusable[full]; !ok && reported {
		return // defined, with problems of its own already reported
	}
	if !ok {
		c.Fail(field, "refers to %s, which is not defined (expected an entry of kind %s)", full, strings.Join(kinds, " or "))
		return
	}
	if !slices.Contains(kinds, target.Kind) {
		c.Fail(field, "refers to %s, which is of kind %s, not %s", full, target.Kind, strings.Join(kinds, " or "))
		return
	}
	c.e.refs = append(c.e.refs, ref{field: field, to: full})
}

// MetaRef resolves meta.<key>, a reference, and returns the full id.
func (c *Checker) MetaRef(key string, kinds ...string) string {
	field := "meta." + key
	raw, present := c.e.Meta[key]
	s, isString := raw.(string)
	if present && !isString {
		c.Fail(field, "must be an entry id, got %v", raw)
		return ""
	}
	c.Ref(field, &s, kinds...)
	return s
}

// Duration parses a duration field. An unset one is def; min bounds it.
func (c *Checker) Duration(field string, d *Duration, def, min time.Duration) {
	if !d.set {
		d.Value = def
		return
	}
	v, err := time.ParseDuration(d.text)
	switch {
	case err != nil:
		c.Fail(field, "bad duration %q: write it like \"30s\", \"1.5s\" or \"100ms\"", d.text)
	case v < min:
		c.Fail(field, "%s is too short: the least is %v", d.text, min)
	default:
		d.Value = v
	}
}

// Source reads a source: file://x.lua, relative to the entry's file. It
// returns the file's path relative to the app directory and its contents.
func (c *Checker) Source(field, src string) (string, []byte) {
	if !c.Required(field, src) {
		return "", nil
	}
	rel, ok := strings.CutPrefix(src, "file://")
	if !ok {
		c.Fail(field, "%q is not a file:// source (write source: file://handler.lua)", src)
		return "", nil
	}
	p := path.Join(c.e.Dir(), rel)
	if !fs.ValidPath(p) {
		c.Fail(field, "%q points outside the app directory", src)
		return "", nil
	}
	code, err := fs.ReadFile(c.l.app.FS, p)
	if err != nil {
		c.Fail(field, "cannot read %s: %v", p, unwrapPath(err))
		return "", nil
	}
	return p, code
}

// Directory checks a directory relative to the entry's file and returns it
// relative to the app directory.
func (c *Checker) Directory(field, dir string) string {
	if !c.Required(field, dir) {
		return ""
	}
	p := path.Join(c.e.Dir(), dir)
	if !fs.ValidPath(p) {
		c.Fail(field, "%q points outside the app directory", dir)
		return ""
	}
	st, err := fs.Stat(c.l.app.FS, p)
	switch {
	case err != nil:
		c.Fail(field, "cannot read %s: %v", p, unwrapPath(err))
	case !st.IsDir():
		c.Fail(field, "%s is not a directory", p)
	}
	return p
}

func unwrapPath(err error) error {
	if pe, ok := err.(*fs.PathError); ok {
		return pe.Err
	}
	return err
}

// URLPath checks a path that must start with '/'.
func (c *Checker) URLPath(field, p string) {
	if c.Required(field, p) && !strings.HasPrefix(p, "/") {
		c.Fail(field, "%q must start with '/'", p)
	}
}

// Options turns a mapping of scalars into strings.
func (c *Checker) Options(field string, in map[string]any) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		switch v.(type) {
		case string, bool, int, int64, uint64, float64:
			out[k] = fmt.Sprint(v)
		case nil:
			out[k] = ""
		default:
			c.Fail(field+"."+k, "must be a single value (a string, number or boolean)")
		}
	}
	return out
}

// Duration is a duration field, written as a Go duration string.
type Duration struct {
	// Value is the parsed duration (or the default) after Check.
	Value time.Duration
	text  string
	set   bool
}

// UnmarshalYAML takes any scalar; Checker.Duration parses it.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be a single value like \"30s\"", n.Line)
	}
	d.text, d.set = n.Value, true
	return nil
}

// ref is a reference from one entry to another.
type ref struct {
	field string
	to    string
}
