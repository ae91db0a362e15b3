package luart

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/yuin/gopher-lua/ast"

	"github.com/wsrelay/wsrelay/internal/suggest"
)

// Static check of require: every require("name") with a literal name in
// a chunk must name a module the entry lists under modules or a library
// it imports, so that `wsrelay check` reports what would otherwise be a
// run-time error, with its line. A require of a computed name is checked
// when it runs.

// RequireError reports a require of a module the entry does not declare.
// errors.Is(err, ErrUnknownModule) is true of it.
type RequireError struct {
	File string // the source file
	Line int    // the line of the require call
	Name string // the module name required
	Msg  string // what to do about it
}

func (e *RequireError) Error() string {
	return fmt.Sprintf("%s:%d: require(%q): %s", e.File, e.Line, e.Name, e.Msg)
}

// Is makes errors.Is(err, ErrUnknownModule) true.
func (e *RequireError) Is(target error) bool { return target == ErrUnknownModule }

// checkRequires returns a *RequireError for each require of a literal
// name that src does not declare (at most maxRequireErrors).
func checkRequires(src Source, chunk []ast.Stmt) []error {
	const maxRequireErrors = 20
	var errs []error
	seen := map[string]bool{}
	walkCalls(reflect.ValueOf(chunk), 0, false, func(call *ast.FuncCallExpr, inFunction bool) {
		fn, ok := call.Func.(*ast.IdentExpr)
		if !ok || fn.Value != "require" || call.Receiver != nil || len(call.Args) == 0 {
			return
		}
		lit, ok := call.Args[0].(*ast.StringExpr)
		if !ok {
			return // a computed name: checked when it runs
		}
		name := lit.Value
		if _, imported := src.Imports[name]; imported || seen[name] || len(errs) >= maxRequireErrors {
			return
		}
		if (inFunction || src.Kind == KindLibrary) && slices.Contains(src.SharedModules, name) {
			// In a function of a file another entry runs with it, or in a
			// library whose importer declares it.
			return
		}
		if msg := undeclared(name, src.Modules, src.Kind, src.ID); msg != "" {
			seen[name] = true
			errs = append(errs, &RequireError{File: src.File, Line: call.Line(), Name: name, Msg: msg})
		}
	})
	return errs
}

// undeclared says why an entry (id, of kind) listing modules may not
// require name, or returns "" when it may. Imports are the caller's to
// check first.
func undeclared(name string, modules []string, kind Kind, id string) string {
	known := slices.Contains(knownModules, name)
	switch {
	case name == "security":
		return noSecurity
	case known && name == "http" && kind != KindFunction:
		return fmt.Sprintf("module \"http\" serves requests and is only available to function.lua entries, not to the %s %s", kind, id)
	case known && slices.Contains(modules, name):
		return ""
	case known:
		return fmt.Sprintf("module %q is not listed in the modules of entry %s (add it to modules:)", name, id)
	}
	return fmt.Sprintf("wsrelay has no module %q%s and entry %s imports no library of that name (modules: %s; shared code is a library.lua entry listed under imports:)",
		name, suggest.DidYouMean(name, knownModules), id, strings.Join(knownModules, ", "))
}

// maxWalkDepth bounds walkCalls' recursion. The tree of a chunk that
// compiled is at most lua.MaxCompileDepth expressions deep; every level of
// it is a few reflect levels (pointer, struct, slice, interface).
const maxWalkDepth = 16 * 1024

// walkCalls calls visit on every function call in the syntax tree v,
// saying whether it is in a function's body (rather than run when the
// chunk loads).
func walkCalls(v reflect.Value, depth int, inFunction bool, visit func(*ast.FuncCallExpr, bool)) {
	if depth > maxWalkDepth {
		return
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return
		}
		switch n := v.Interface().(type) {
		case *ast.FuncCallExpr:
			visit(n, inFunction)
		case *ast.FunctionExpr:
			inFunction = true
		}
		walkCalls(v.Elem(), depth+1, inFunction, visit)
	case reflect.Slice:
		for i := range v.Len() {
			walkCalls(v.Index(i), depth+1, inFunction, visit)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				walkCalls(v.Field(i), depth+1, inFunction, visit)
			}
		}
	}
}
