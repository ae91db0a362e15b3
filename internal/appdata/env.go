package appdata

import (
	"fmt"
	"os"
	"sync"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/luart"
)

// storage is where variables' values are kept.
type storage interface {
	get(key string) (string, bool)
	set(key, value string) error
}

type osStorage struct{ lookup func(string) (string, bool) }

// get treats a variable set empty as unset, as ${env:NAME:-default} in
// the configuration does.
func (s osStorage) get(key string) (string, bool) {
	v, ok := s.lookup(key)
	return v, ok && v != ""
}
func (osStorage) set(string, string) error {
	return fmt.Errorf("%w: the storage is the process environment (env.storage.os), which cannot be written", luart.ErrReadOnly)
}

type staticStorage map[string]string

func (s staticStorage) get(key string) (string, bool) { v, ok := s[key]; return v, ok }
func (staticStorage) set(string, string) error {
	return fmt.Errorf("%w: the storage holds the values of its configuration (env.storage.static)", luart.ErrReadOnly)
}

// memoryStorage holds values set while the app runs. Only declared
// variables are set, so it holds at most one value per env.variable.
type memoryStorage struct {
	mu sync.Mutex
	m  map[string]string
}

func (s *memoryStorage) get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok
}

func (s *memoryStorage) set(key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[key] = value
	return nil
}

// routerStorage reads its storages in order and writes to the first.
type routerStorage []storage

func (r routerStorage) get(key string) (string, bool) {
	for _, s := range r {
		if v, ok := s.get(key); ok {
			return v, true
		}
	}
	return "", false
}

func (r routerStorage) set(key, value string) error { return r[0].set(key, value) }

type variable struct {
	id, name, key string
	storage       storage
	def           *string
	readOnly      bool
}

// Env is the app's variables; it implements luart.Env.
type Env struct {
	byName map[string]*variable // public name → variable
	byID   map[string]*variable
	public []*variable // in entry order
}

// NewEnv builds the variables of cfg. lookup reads the process
// environment (os.LookupEnv when nil).
func NewEnv(cfg *config.App, lookup func(string) (string, bool)) *Env {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	storages := map[string]storage{}
	// Entries come in dependency order: a router after its storages.
	for _, e := range cfg.Entries {
		switch s := e.Spec.(type) {
		case *config.EnvStorageOS:
			storages[e.ID] = osStorage{lookup}
		case *config.EnvStorageStatic:
			storages[e.ID] = staticStorage(s.Values)
		case *config.EnvStorageMemory:
			storages[e.ID] = &memoryStorage{m: map[string]string{}}
		case *config.EnvStorageRouter:
			r := make(routerStorage, len(s.Storages))
			for i, id := range s.Storages {
				r[i] = storages[id]
			}
			storages[e.ID] = r
		}
	}
	env := &Env{byName: map[string]*variable{}, byID: map[string]*variable{}}
	for _, e := range cfg.OfKind(config.KindEnvVariable) {
		s := e.Spec.(*config.EnvVariable)
		v := &variable{id: e.ID, name: s.Variable, key: s.Key, storage: storages[s.Storage], def: s.Default, readOnly: s.ReadOnly}
		env.byID[e.ID] = v
		if s.Variable != "" {
			env.byName[s.Variable] = v
			env.public = append(env.public, v)
		}
	}
	return env
}

func (e *Env) lookup(name string) (*variable, error) {
	if v, ok := e.byName[name]; ok {
		return v, nil
	}
	if v, ok := e.byID[name]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("%w %q: declare it as an env.variable entry (variable: %s)", luart.ErrNoVariable, cut(name), cut(name))
}

// Get returns a variable's value: its storage's, else its default.
func (e *Env) Get(name string) (string, error) {
	v, err := e.lookup(name)
	if err != nil {
		return "", err
	}
	if val, ok := v.storage.get(v.key); ok {
		return val, nil
	}
	if v.def != nil {
		return *v.def, nil
	}
	return "", fmt.Errorf("%w: %s (its storage has no %s, and it has no default)", luart.ErrNoValue, v.id, v.key)
}

// Set writes a variable's value to its storage.
func (e *Env) Set(name, value string) error {
	v, err := e.lookup(name)
	if err != nil {
		return err
	}
	if v.readOnly {
		return fmt.Errorf("%w: %s is readonly", luart.ErrReadOnly, v.id)
	}
	if err := v.storage.set(v.key, value); err != nil {
		return fmt.Errorf("%s: %w", v.id, err)
	}
	return nil
}

// All returns the public variables that have a value.
func (e *Env) All() map[string]string {
	out := make(map[string]string, len(e.public))
	for _, v := range e.public {
		if val, err := e.Get(v.name); err == nil {
			out[v.name] = val
		}
	}
	return out
}

func cut(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
