package luart

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/wsrelay/wsrelay/internal/suggest"
)

// Kind says how a Program runs.
type Kind uint8

const (
	// KindProcess: a process.lua entry, run as a process on its own goroutine.
	KindProcess Kind = iota + 1
	// KindFunction: a function.lua entry, called on pooled states (HTTP handlers).
	KindFunction
	// KindLibrary: a library.lua entry, code shared by the entries that
	// import it. It has no method; require runs its chunk once per state.
	KindLibrary
)

func (k Kind) String() string {
	switch k {
	case KindFunction:
		return "function.lua"
	case KindLibrary:
		return "library.lua"
	}
	return "process.lua"
}

// Modules that an entry can list and require. The process and channel
// globals are always there: listing them (as the original runtime's apps
// do) makes require return them.
// noSecurity is what an app that uses the original runtime's security
// module is told.
const noSecurity = "wsrelay has no security module; docs/porting.md (Security) shows how to port it by hand"

var knownModules = []string{"channel", "ctx", "env", "http", "json", "logger", "pg", "process", "registry", "time", "uuid"}

// Source describes one Lua entry to compile.
type Source struct {
	// ID is the entry id, namespace:name, as in "app.ws:handler".
	ID string
	// File is the source's path, used in error messages and tracebacks.
	File string
	// Code is the Lua source.
	Code []byte
	// Method names the function to run: a field of the table the chunk
	// returns, or else a global function. Required.
	Method string
	// Modules lists what require may load: any of "http" (function.lua
	// only), "json", "logger", "pg", "time".
	Modules []string
	// Imports maps a name to a compiled library.lua program: require(name)
	// runs its chunk once per state and returns what the chunk returned.
	// A name must not also be in Modules.
	Imports map[string]*Program
	// SharedModules are the modules and imports that other entries running
	// the same file declare, or for a library those of the entries that
	// import it. A require of one of them inside a function (anywhere in a
	// library) is not reported by Compile: the function may be another
	// entry's method (one file, several entries), and a library runs in
	// its importer's process; it is checked when it runs.
	SharedModules []string
	// Kind is KindProcess, KindFunction or KindLibrary.
	Kind Kind
	// MaxMemory bounds the live data of a state running the entry, in
	// bytes; zero means the Runtime's default (Options.ProcessMemory or
	// Options.HandlerMemory).
	MaxMemory int64
}

// Program is a compiled Lua entry. It is immutable and shared by every
// state that runs it: the source is parsed and compiled once.
type Program struct {
	id      string
	file    string
	method  string
	modules []string
	imports map[string]*Program
	kind    Kind
	proto   *lua.FunctionProto

	methodNote string
	maxMemory  int64
}

// Compile checks src and compiles its code once. A syntax error is a
// *SyntaxError with the file and line; an unknown module or a missing
// method name is an error wrapping ErrUnknownModule or ErrNoMethod.
func Compile(src Source) (*Program, error) {
	if src.Method == "" && src.Kind != KindLibrary {
		return nil, fmt.Errorf("%s: method: %w: no method named (the function to call)", src.ID, ErrNoMethod)
	}
	if src.MaxMemory < 0 {
		return nil, fmt.Errorf("%s: memory limit %d: must not be negative", src.ID, src.MaxMemory)
	}
	if src.Kind != KindProcess && src.Kind != KindFunction && src.Kind != KindLibrary {
		return nil, fmt.Errorf("%s: invalid kind %d", src.ID, src.Kind)
	}
	for name, lib := range src.Imports {
		if lib == nil || lib.kind != KindLibrary {
			return nil, fmt.Errorf("%s: imports: %s: not a compiled library.lua program", src.ID, name)
		}
		if slices.Contains(src.Modules, name) {
			return nil, fmt.Errorf("%s: imports: %s is also listed under modules", src.ID, name)
		}
	}
	// Every problem at once: each unknown module, then the code.
	var errs []error
	for _, m := range src.Modules {
		if m == "security" {
			errs = append(errs, fmt.Errorf("%s: modules: %w %q: %s", src.ID, ErrUnknownModule, m, noSecurity))
		} else if !slices.Contains(knownModules, m) {
			errs = append(errs, fmt.Errorf("%s: modules: %w %q%s (known: %s)", src.ID, ErrUnknownModule, m, suggest.DidYouMean(m, knownModules), strings.Join(knownModules, ", ")))
		} else if m == "http" && src.Kind != KindFunction {
			errs = append(errs, fmt.Errorf("%s: modules: %w %q: http serves requests and is only available to function.lua entries", src.ID, ErrUnknownModule, m))
		}
	}
	chunk, err := parse.Parse(bytes.NewReader(src.Code), src.File)
	if err != nil {
		return nil, errors.Join(append(errs, syntaxError(src.File, src.Code, err))...)
	}
	proto, err := lua.Compile(chunk, src.File)
	if err != nil {
		return nil, errors.Join(append(errs, syntaxError(src.File, src.Code, err))...)
	}
	errs = append(errs, checkRequires(src, chunk)...)
	sc := scanMethods(chunk)
	defined, known := sc.defines(src.Method)
	if src.Kind == KindLibrary {
		defined, known = true, true
	}
	if known && !defined {
		errs = append(errs, fmt.Errorf("%s: method: %w: %s defines no function %q%s (return a table with it, or define a global function)",
			src.ID, ErrNoMethod, src.File, src.Method, suggest.DidYouMean(src.Method, sc.names)))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	p := &Program{
		id:        src.ID,
		file:      src.File,
		method:    src.Method,
		modules:   slices.Clone(src.Modules),
		imports:   maps.Clone(src.Imports),
		kind:      src.Kind,
		proto:     proto,
		maxMemory: src.MaxMemory,
	}
	if !known {
		p.methodNote = fmt.Sprintf("whether %s defines %q is known only when it runs: %s", src.File, src.Method, sc.unknown)
	}
	return p, nil
}

// MethodNote says why Compile could not tell that the method is defined,
// or is "" when it could (the method is then checked when the entry first
// runs).
func (p *Program) MethodNote() string { return p.methodNote }

func syntaxError(file string, code []byte, err error) error {
	var pe *parse.Error
	if errors.As(err, &pe) {
		if pe.Pos.Line < 0 { // the parser ran out of input
			return &SyntaxError{File: file, Line: bytes.Count(code, []byte("\n")) + 1, Msg: "unexpected end of file: " + pe.Message + " (a missing 'end' or closing bracket?)"}
		}
		msg := pe.Message
		if pe.Token != "" {
			msg += fmt.Sprintf(" near %q", pe.Token)
		}
		return &SyntaxError{File: file, Line: pe.Pos.Line, Column: pe.Pos.Column, Msg: msg}
	}
	var ce *lua.CompileError // e.g. an expression nested deeper than lua.MaxCompileDepth
	if errors.As(err, &ce) {
		return &SyntaxError{File: file, Line: ce.Line, Msg: ce.Message}
	}
	return &SyntaxError{File: file, Msg: err.Error()}
}

// ID returns the entry id.
func (p *Program) ID() string { return p.id }

// Kind returns how the program runs.
func (p *Program) Kind() Kind { return p.kind }

// namespace returns the namespace part of the entry id.
func (p *Program) namespace() string {
	ns, _, _ := strings.Cut(p.id, ":")
	return ns
}

func (p *Program) allows(module string) bool { return slices.Contains(p.modules, module) }

// functionNames lists, sorted, the names of the functions in t (at most
// ten), for the error of a method that is not there.
func functionNames(t *lua.LTable) string {
	var names []string
	t.ForEach(func(k, v lua.LValue) {
		if ks, ok := k.(lua.LString); ok && v.Type() == lua.LTFunction {
			names = append(names, strconv.Quote(string(ks)))
		}
	})
	if len(names) == 0 {
		return "no functions"
	}
	slices.Sort(names)
	if len(names) > 10 {
		names = append(names[:10], "...")
	}
	return "the functions " + strings.Join(names, ", ")
}
