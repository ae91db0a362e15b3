package luart

import (
	"slices"

	"github.com/yuin/gopher-lua/ast"
)

// Static check of an entry's method: does the chunk define it? The
// runtime calls the method field of the table the chunk returns, or else
// the global function of that name (see state.entry). Read from the
// syntax tree, without running anything, this is certain only for the
// usual shapes of a file:
//
//	return { main = function() ... end }
//	local M = {} ; function M.main() ... end ; return M
//	function main() ... end
//
// A chunk that builds its table some other way (a call, a metatable, a
// computed key, a return inside a block) is "not known": the name is then
// checked when the entry first runs.

// methodScan is what a chunk visibly defines.
type methodScan struct {
	names   []string // fields of the returned table and global names
	unknown string   // why the set of names cannot be known; "" when it can
}

func scanMethods(chunk []ast.Stmt) methodScan {
	var sc methodScan
	locals := map[string]*ast.TableExpr{} // local tables, by name
	fields := map[string][]string{}       // names set on them: function M.x, M.x = ...
	dynamic := func(why string) {
		if sc.unknown == "" {
			sc.unknown = why
		}
	}
	for i, st := range chunk {
		switch s := st.(type) {
		case *ast.LocalAssignStmt:
			for j, n := range s.Names {
				delete(locals, n)
				if j < len(s.Exprs) {
					if t, ok := s.Exprs[j].(*ast.TableExpr); ok {
						locals[n] = t
						fields[n] = nil
					}
				}
			}
		case *ast.FuncDefStmt:
			switch f := s.Name.Func.(type) { // nil for function M:x(), below
			case *ast.IdentExpr:
				if _, isLocal := locals[f.Value]; !isLocal {
					sc.names = append(sc.names, f.Value)
				}
			case *ast.AttrGetExpr:
				setField(f, fields, dynamic)
			}
			if s.Name.Receiver != nil {
				if id, ok := s.Name.Receiver.(*ast.IdentExpr); ok {
					fields[id.Value] = append(fields[id.Value], s.Name.Method)
				}
			}
		case *ast.AssignStmt:
			for _, lhs := range s.Lhs {
				switch l := lhs.(type) {
				case *ast.IdentExpr:
					sc.names = append(sc.names, l.Value)
				case *ast.AttrGetExpr:
					setField(l, fields, dynamic)
				}
			}
		case *ast.ReturnStmt:
			if i != len(chunk)-1 || len(s.Exprs) == 0 {
				break
			}
			switch r := s.Exprs[0].(type) {
			case *ast.TableExpr:
				sc.names = append(sc.names, tableKeys(r, dynamic)...)
			case *ast.IdentExpr:
				t, ok := locals[r.Value]
				if !ok {
					dynamic("it returns " + r.Value + ", which is not a local table made in the file")
					break
				}
				sc.names = append(sc.names, tableKeys(t, dynamic)...)
				sc.names = append(sc.names, fields[r.Value]...)
			case *ast.NilExpr:
			default:
				dynamic("it returns something computed")
			}
		case *ast.FuncCallStmt:
			dynamic("it calls functions while loading, which may define names")
		default:
			dynamic("it defines names inside blocks")
		}
	}
	return sc
}

// setField records function M.x / M.x = ... on a local table M.
func setField(a *ast.AttrGetExpr, fields map[string][]string, dynamic func(string)) {
	obj, ok := a.Object.(*ast.IdentExpr)
	key, isStr := a.Key.(*ast.StringExpr)
	if !ok || !isStr {
		dynamic("it sets computed keys")
		return
	}
	fields[obj.Value] = append(fields[obj.Value], key.Value)
}

func tableKeys(t *ast.TableExpr, dynamic func(string)) []string {
	var out []string
	for _, f := range t.Fields {
		switch k := f.Key.(type) {
		case nil: // a list item
		case *ast.StringExpr:
			out = append(out, k.Value)
		default:
			dynamic("its table has computed keys")
		}
	}
	return out
}

// defines reports whether the chunk certainly defines name (true), certainly
// does not (false, with known true), or cannot be told (known false).
func (sc methodScan) defines(name string) (defined, known bool) {
	if slices.Contains(sc.names, name) {
		return true, true
	}
	return false, sc.unknown == ""
}
