package config

import (
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
	KindEnvVariable      = "env.variable"
)

// envStorageKinds are the kinds an env.variable or a router may name.
var envStorageKinds = []string{KindEnvStorageOS, KindEnvStorageStatic, KindEnvStorageMemory, KindEnvStorageRouter}

// EnvKinds returns the environment kinds; StandardKinds includes them.
func EnvKinds() []Kind {
	return []Kind{
		{KindEnvStorageOS, func() Spec { return &EnvStorageOS{} }},
		{KindEnvStorageStatic, func() Spec { return &EnvStorageStatic{} }},
		{KindEnvStorageMemory, func() Spec { return &EnvStorageMemory{} }},
		{KindEnvStorageRouter, func() Spec { return &EnvStorageRouter{} }},
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
