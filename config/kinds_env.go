package config

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
)

// Environment entries, as the original runtime has them: storages hold
// values, and env.variable entries name the values Lua code may read
// (the env module) from one storage each.
const (
	KindEnvStorageOS     = "env.storage.os"
	KindEnvStorageStatic = "env.storage.static"
	KindEnvStorageMemory = "env.storage.memory"
	KindEnvStorageRouter = "env.storage.router"
	KindEnvStorageFile   = "env.storage.file"
	KindEnvVariable      = "env.variable"
)

// envStorageKinds are the kinds an env.variable or a router may name.
var envStorageKinds = []string{KindEnvStorageOS, KindEnvStorageStatic, KindEnvStorageMemory, KindEnvStorageRouter, KindEnvStorageFile}

// EnvKinds returns the environment kinds; StandardKinds includes them.
func EnvKinds() []Kind {
	return []Kind{
		{KindEnvStorageOS, func() Spec { return &EnvStorageOS{} }},
		{KindEnvStorageStatic, func() Spec { return &EnvStorageStatic{} }},
		{KindEnvStorageMemory, func() Spec { return &EnvStorageMemory{} }},
		{KindEnvStorageRouter, func() Spec { return &EnvStorageRouter{} }},
		{KindEnvStorageFile, func() Spec { return &EnvStorageFile{} }},
		{KindEnvVariable, func() Spec { return &EnvVariable{} }},
	}
}

// EnvStorageOS reads the environment of the wsrelay process; it cannot be
// written.
type EnvStorageOS struct{}

func (*EnvStorageOS) Check(*Checker) {}

// EnvStorageStatic holds values written in the configuration; it cannot
// be written.
type EnvStorageStatic struct {
	Values map[string]string `yaml:"values"`
}

func (s *EnvStorageStatic) Check(c *Checker) {
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range s.Values {
			if !yield(k) {
				return
			}
		}
	}) {
		if !envName.MatchString(k) {
			c.Fail("values."+k, "%q is not a variable name: use letters, digits and '_'", k)
		}
	}
}

// EnvStorageMemory holds values set at run time (env.set), lost when the
// app stops; it starts empty.
type EnvStorageMemory struct{}

func (*EnvStorageMemory) Check(*Checker) {}

// EnvStorageRouter reads from its storages in order, and writes to the
// first.
type EnvStorageRouter struct {
	Storages []string `yaml:"storages"`
}

func (s *EnvStorageRouter) Check(c *Checker) {
	if len(s.Storages) == 0 {
		c.Fail("storages", "missing; list the storages to read, in order")
	}
	for i := range s.Storages {
		c.Ref("storages", &s.Storages[i], envStorageKinds...)
	}
}

// envName is what a variable name may be.
var envName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// EnvVariable is a value Lua code reads with env.get, by its public name
// (Variable) or its entry id. The value is the one its storage holds under
// Variable (or under the entry's name when Variable is not given), else
// Default.
type EnvVariable struct {
	// Variable is the public name; optional, unique in the app.
	Variable string  `yaml:"variable"`
	Storage  string  `yaml:"storage"`
	Default  *string `yaml:"default"`
	// ReadOnly refuses env.set even when the storage could be written.
	ReadOnly bool `yaml:"readonly"`

	// Key is what the storage is asked for: Variable, or the entry's name.
	Key string `yaml:"-"`
}

func (s *EnvVariable) Check(c *Checker) {
	c.Ref("storage", &s.Storage, envStorageKinds...)
	s.Key = s.Variable
	if s.Variable == "" {
		s.Key = c.e.Name
		return
	}
	if !envName.MatchString(s.Variable) {
		c.Fail("variable", "%q is not a variable name: use letters, digits and '_'", s.Variable)
		return
	}
	for _, o := range c.l.entries {
		if o == c.e {
			break
		}
		if v, ok := o.Spec.(*EnvVariable); ok && v.Variable == s.Variable {
			c.Fail("variable", "%s is also the variable of %s (%s:%d); a public name is unique", s.Variable, o.ID, o.File, o.Line)
			return
		}
	}
}

// EnvStorageFile holds the variables of a file in the .env format
// (ParseEnvFile), read when the app loads; env.set writes through to the
// file.
type EnvStorageFile struct {
	// FilePath is the file: absolute, or relative to the entry's file.
	FilePath string `yaml:"file_path"`
	// AutoCreate: a missing file is an empty storage, created (with its
	// directory) on the first env.set; otherwise a missing file is an error.
	AutoCreate bool `yaml:"auto_create"`
	// FileMode and DirMode are the permissions of a file or directory
	// created; default 0644 and 0755.
	FileMode *uint32 `yaml:"file_mode"`
	DirMode  *uint32 `yaml:"dir_mode"`

	// Values are the file's variables as read when the app loaded.
	Values map[string]string `yaml:"-"`
	// Path is the file: absolute, or relative to the app directory (then
	// Local is true).
	Path  string `yaml:"-"`
	Local bool   `yaml:"-"`
}

func (s *EnvStorageFile) Check(c *Checker) {
	for _, m := range []struct {
		field string
		mode  **uint32
		def   uint32
	}{{"file_mode", &s.FileMode, 0o644}, {"dir_mode", &s.DirMode, 0o755}} {
		if *m.mode == nil {
			d := m.def
			*m.mode = &d
		} else if **m.mode > 0o777 {
			c.Fail(m.field, "%#o is not a permission (0000 to 0777)", **m.mode)
		}
	}
	if !c.Required("file_path", s.FilePath) {
		return
	}
	var err error
	s.Values, s.Path, s.Local, err = readEnvStorage(c.l.app.FS, c.e.Dir(), s.FilePath, s.AutoCreate)
	if err != nil {
		c.Fail("file_path", "%v", err)
	}
}

// readEnvStorage reads the file of an env.storage.file: filePath is
// absolute, or relative to dir (the entry's file's directory) in fsys. It
// returns the values and the file's path: absolute, or relative to fsys
// (local).
func readEnvStorage(fsys fs.FS, dir, filePath string, autoCreate bool) (values map[string]string, p string, local bool, err error) {
	p = filePath
	if !path.IsAbs(filePath) {
		p = path.Join(dir, filePath)
		if !fs.ValidPath(p) {
			return nil, "", false, fmt.Errorf("%q points outside the app directory; give an absolute path for a file elsewhere", filePath)
		}
		local = true
	} else {
		fsys = nil
	}
	values = map[string]string{}
	data, err := readBounded(fsys, p)
	switch {
	case errors.Is(err, fs.ErrNotExist) && autoCreate:
		return values, p, local, nil // empty until the first env.set creates it
	case errors.Is(err, fs.ErrNotExist):
		return nil, p, local, fmt.Errorf("%s does not exist (auto_create: true starts with an empty file)", p)
	case err != nil:
		return nil, p, local, fmt.Errorf("cannot read %s: %v", p, unwrapPath(err))
	}
	lines, err := ParseEnvFile(p, data)
	if err != nil {
		return nil, p, local, err
	}
	for _, l := range lines {
		values[l.Key] = l.Value
	}
	return values, p, local, nil
}
