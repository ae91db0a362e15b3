package appdata

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
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

// fileStorage is an env.storage.file: the values read as the app loaded,
// written through to the file by set. A set rewrites the file whole (a
// new file renamed over it, so that a reader never sees half of one),
// keeping its other lines and comments.
type fileStorage struct {
	mu    sync.Mutex
	m     map[string]string
	path  string // the file on disk; empty when it cannot be written
	why   string // why path is empty
	spec  *config.EnvStorageFile
	entry string
}

func (s *fileStorage) get(key string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok
}

func (s *fileStorage) set(key, value string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" {
		return fmt.Errorf("%w: %s cannot be written: %s", luart.ErrReadOnly, s.entry, s.why)
	}
	line, err := config.FormatEnvLine(key, value)
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	old, err := config.ReadEnvFile(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && s.spec.AutoCreate:
		if err := os.MkdirAll(filepath.Dir(s.path), fs.FileMode(*s.spec.DirMode)); err != nil {
			return fmt.Errorf("create the directory of %s: %w", s.path, err)
		}
	case err != nil:
		return fmt.Errorf("read %s: %w", s.path, err)
	}
	lines, err := config.ParseEnvFile(s.path, old) // bounded: ParseEnvFile refuses a file over MaxEnvFileSize
	if err != nil {
		return err
	}
	text := strings.Split(string(old), "\n")
	if len(old) == 0 {
		text = nil
	}
	replaced := false
	for _, l := range lines {
		if l.Key == key {
			text[l.Line-1], replaced = line, true
		}
	}
	if !replaced {
		if n := len(text); n > 0 && text[n-1] == "" {
			text = text[:n-1]
		}
		text = append(text, line, "")
	}
	out := strings.Join(text, "\n")
	if len(out) > config.MaxEnvFileSize {
		return fmt.Errorf("%s would be more than %d bytes", s.path, config.MaxEnvFileSize)
	}
	tmp, err := os.CreateTemp(filepath.Dir(s.path), "."+filepath.Base(s.path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	_, werr := tmp.WriteString(out)
	if err := errors.Join(werr, tmp.Chmod(fs.FileMode(*s.spec.FileMode)), tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	if err := os.Rename(tmp.Name(), s.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	s.m[key] = value
	return nil
}

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
		case *config.EnvStorageFile:
			fsto := &fileStorage{m: maps.Clone(s.Values), path: s.Path, spec: s, entry: e.ID}
			if fsto.m == nil {
				fsto.m = map[string]string{}
			}
			if s.Local {
				if cfg.Dir == "" {
					fsto.path, fsto.why = "", "the app was not loaded from a directory"
				} else {
					fsto.path = filepath.Join(cfg.Dir, filepath.FromSlash(s.Path))
				}
			}
			storages[e.ID] = fsto
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
