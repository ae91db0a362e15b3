package luart_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/luart"
)

// TestMethodCheckedWhenCompiled: a method the file visibly does not define
// is refused by Compile (so `wsrelay check` reports it) with a suggestion;
// one that only shows at run time compiles, with a note saying so.
func TestMethodCheckedWhenCompiled(t *testing.T) {
	for _, tc := range []struct {
		name, code, method string
		missing            bool   // Compile refuses it
		suggest            string // its "did you mean"
		note               string // Compile cannot tell
	}{
		{"returned table", `return { main = function() end }`, "main", false, "", ""},
		{"returned table, typo", `return { main = function() end, other = 1 }`, "mian", true, "main", ""},
		{"module table", "local M = {}\nfunction M.handler() end\nfunction M:helper() end\nM.extra = function() end\nreturn M", "handler", false, "", ""},
		{"module table, method syntax", "local M = {}\nfunction M:helper() end\nreturn M", "helper", false, "", ""},
		{"module table, typo", "local M = {x = 1}\nfunction M.handler() end\nreturn M", "handlr", true, "handler", ""},
		{"global function", "local x = 1\nfunction main() end", "main", false, "", ""},
		{"global assigned", "main = function() end", "main", false, "", ""},
		{"nothing", "local x = 1", "main", true, "", ""},
		{"local function is not found", "local function main() end", "main", true, "", ""},
		{"returned call", "return make()", "main", false, "", "it returns something computed"},
		{"loading calls", "setup()\nreturn {}", "main", false, "", "it calls functions while loading"},
		{"computed key", "local M = {}\nM[name] = 1\nreturn M", "main", false, "", "it sets computed keys"},
		{"inside a block", "if x then function main() end end", "main", false, "", "it defines names inside blocks"},
		{"returned upvalue", "return M", "main", false, "", "not a local table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := luart.Compile(luart.Source{ID: "a:b", File: "b.lua", Code: []byte(tc.code), Method: tc.method, Kind: luart.KindProcess})
			if tc.missing {
				if !errors.Is(err, luart.ErrNoMethod) || !strings.Contains(err.Error(), `b.lua defines no function "`+tc.method+`"`) {
					t.Fatalf("error %v, want ErrNoMethod", err)
				}
				if tc.suggest != "" && !strings.Contains(err.Error(), `(did you mean "`+tc.suggest+`"?)`) {
					t.Errorf("no suggestion of %q: %v", tc.suggest, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.note == "" && p.MethodNote() != "" || !strings.Contains(p.MethodNote(), tc.note) {
				t.Errorf("note %q, want one containing %q", p.MethodNote(), tc.note)
			}
		})
	}
}
