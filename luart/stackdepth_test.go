package luart_test

import (
	"errors"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/luart"
)

// Lua code must not be able to overflow the Go stack: that is a fatal
// error of the whole process, which no pcall, memory limit or timeout can
// stop. Each case runs in a child process (this test binary again, running
// TestGoStackChild), so a regression fails the case instead of killing the
// test binary. The child lowers Go's stack limit from 1 GB to 4 MiB: the
// bounds keep a Lua goroutine's stack under 1 MiB (docs/lua.md), and an
// unbounded recursion dies within a second instead of after filling a
// gigabyte.

const stackCaseEnv = "LUART_TEST_GO_STACK_CASE"

// reentry is a script in which every level of a recursion goes through a
// coroutine (each has a call stack of its own, so the per-thread call limit
// never stops it) and through the Go builtin or metamethod under test (%s
// calls level()): each level enters the VM again from Go.
const reentry = `return { main = function()
    local depth = 0
    local function level()
        depth = depth + 1
        return coroutine.wrap(function() %s end)()
    end
    local ok, err = pcall(level)
    return tostring(ok) .. " " .. tostring(err) .. " depth " .. depth
end }`

var stackRunCases = map[string]struct{ code, want string }{
	// The pattern compiler recursed once per "(" (700,000 killed the server).
	"nested captures": {`return { main = function()
    local n = 700000
    local ok, err = pcall(string.find, "a", ("("):rep(n) .. "a" .. (")"):rep(n))
    return tostring(ok) .. " " .. tostring(err)
end }`, "false "},
	"nested captures gsub": {`return { main = function()
    local n = 300000
    local ok, err = pcall(string.gsub, "a", ("("):rep(n) .. "a" .. (")"):rep(n), "")
    return tostring(ok) .. " " .. tostring(err)
end }`, "false "},
	// The matcher recursed once per character a greedy item consumed.
	"long greedy match": {`return { main = function()
    local s = ("a"):rep(100000)
    return tostring(s:find("^a*b")) .. " " .. #s:match("^(.*)$")
end }`, "nil 100000"},
	"coroutines": {strings.Replace(reentry, "%s", `local co = coroutine.create(level)
        local ok, err = coroutine.resume(co)
        if not ok then error(err, 0) end`, 1), ""},
	"coroutines and pcall": {strings.Replace(reentry, "%s", `local ok, err = pcall(level)
        if not ok then error(err, 0) end`, 1), ""},
	"xpcall": {strings.Replace(reentry, "%s", `local ok, err = xpcall(level, function(m) return m end)
        if not ok then error(err, 0) end`, 1), ""},
	"__index": {strings.Replace(reentry, "%s", `return setmetatable({}, {__index = function(t, k) return level() end}).x`, 1), ""},
	"__index through a table access": {`return { main = function()
    local t
    t = setmetatable({}, {__index = function(_, k)
        return coroutine.wrap(function() return t[k] end)()
    end})
    local ok, err = pcall(function() return t.x end)
    return tostring(ok) .. " " .. tostring(err)
end }`, ""},
	"__lt":                  {strings.Replace(reentry, "%s", `local mt = {__lt = function() return level() end} return setmetatable({}, mt) < setmetatable({}, mt)`, 1), ""},
	"__eq":                  {strings.Replace(reentry, "%s", `local mt = {__eq = function() return level() end} return setmetatable({}, mt) == setmetatable({}, mt)`, 1), ""},
	"__concat":              {strings.Replace(reentry, "%s", `return setmetatable({}, {__concat = function() return level() end}) .. "x"`, 1), ""},
	"__tostring":            {strings.Replace(reentry, "%s", `return tostring(setmetatable({}, {__tostring = function() return level() end}))`, 1), ""},
	"table.sort comparator": {strings.Replace(reentry, "%s", `table.sort({3, 2, 1}, function(a, b) level() return a < b end)`, 1), ""},
	"table.sort re-entering sort": {`return { main = function()
    local function cmp(a, b)
        coroutine.wrap(function() table.sort({3, 2, 1}, cmp) end)()
        return a < b
    end
    local ok, err = pcall(table.sort, {3, 2, 1}, cmp)
    return tostring(ok) .. " " .. tostring(err)
end }`, ""},
	"gsub callback": {strings.Replace(reentry, "%s", `return (string.gsub("a", "a", function() return level() end))`, 1), ""},
	// The same re-entry inside a coroutine of coroutine.spawn, and a
	// spawned coroutine's own Lua recursion (its call stack is bounded as
	// the body's is).
	"spawned coroutine": {`return { main = function()
    local out = channel.new(1)
    coroutine.spawn(function()
        local depth = 0
        local function level()
            depth = depth + 1
            return coroutine.wrap(function() local ok, err = pcall(level) if not ok then error(err, 0) end end)()
        end
        local ok, err = pcall(level)
        out:send(tostring(ok) .. " " .. tostring(err) .. " depth " .. depth)
    end)
    local r = out:receive()
    return r
end }`, ""},
	"spawned recursion": {`return { main = function()
    local out = channel.new(100)
    for i = 1, 100 do
        coroutine.spawn(function()
            local function f(n) return f(n + 1) + 1 end
            local ok, err = pcall(f, 0)
            out:send(tostring(ok) .. " " .. tostring(err))
        end)
    end
    local r
    for i = 1, 100 do r = out:receive() end
    return r
end }`, "false "},
	"pcall chain": {`return { main = function()
    local function f() return pcall(f) end
    local ok, err = pcall(f)
    return tostring(ok) .. " " .. tostring(err)
end }`, "true "},
}

// deepSource is Lua source nested n levels deep by repeating open, a
// middle and close (as in the 2 MB file of a million nested {} that killed
// wsrelay check).
func deepSource(prefix, open, middle, close string, n int) string {
	return prefix + strings.Repeat(open, n) + middle + strings.Repeat(close, n)
}

var stackCompileCases = map[string]struct {
	code     string
	wantLine int
}{
	"nested tables":      {deepSource("local x = 1\nreturn ", "{", "", "}", 1000000), 2},
	"nested parentheses": {deepSource("return ", "(", "1", ")", 1000000), 1},
	"nested functions":   {deepSource("", "function f()\n", "", "end\n", 100000), 200},
	"nested ifs":         {deepSource("", "if x then\n", "", "end\n", 100000), 201},
	"nested blocks":      {deepSource("", "do ", "", " end", 1000000), 1},
	"concat chain":       {"return 1" + strings.Repeat(" .. 1", 100000), 1},
	"sum chain":          {"return 1" + strings.Repeat("+1", 100000), 1},
	"field chain":        {"return a" + strings.Repeat(".b", 100000), 1},
	"call chain":         {"return f" + strings.Repeat("()", 100000), 1},
	"unary chain":        {"return " + strings.Repeat("not ", 100000) + "1", 1},
	"and chain":          {"if 1" + strings.Repeat(" and 1", 100000) + " then end", 1},
}

func TestLuaCannotOverflowTheGoStack(t *testing.T) {
	if os.Getenv(stackCaseEnv) != "" {
		t.Skip("in the child")
	}
	names := []string{}
	for name := range stackRunCases {
		names = append(names, "run/"+name)
	}
	for name := range stackCompileCases {
		names = append(names, "compile/"+name)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestGoStackChild$", "-test.v", "-test.count=1")
			cmd.Env = append(os.Environ(), stackCaseEnv+"="+name)
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "--- PASS: TestGoStackChild") {
				if len(out) > 4000 { // a Go stack overflow dumps the whole stack
					out = append(out[:4000], "…"...)
				}
				t.Fatalf("the child process: %v\n%s", err, out)
			}
		})
	}
}

// TestGoStackChild runs one case of TestLuaCannotOverflowTheGoStack.
func TestGoStackChild(t *testing.T) {
	name := os.Getenv(stackCaseEnv)
	if name == "" {
		t.Skip("run by TestLuaCannotOverflowTheGoStack in a child process")
	}
	debug.SetMaxStack(4 << 20)
	e := newEnv(t, nil)
	if c, found := stackRunCases[strings.TrimPrefix(name, "run/")]; found {
		got, _ := ok(t, e.run(c.code)).Text()
		t.Logf("the script returned %q", got)
		// Every case reports its error (or result) as "ok err"; the
		// re-entry cases must fail with the catchable Go call depth
		// error.
		want := c.want
		if want == "" {
			want = "false "
			if !strings.Contains(got, "stack overflow (Go calls nested too deep)") {
				t.Errorf("the script returned %q, want the catchable Go call depth error", got)
			}
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("the script returned %q, want it to start with %q", got, want)
		}
		if strings.HasPrefix(name, "run/nested captures") && !strings.Contains(got, "pattern nesting too deep") {
			t.Errorf("the script returned %q, want the pattern nesting error", got)
		}
	} else if c, found := stackCompileCases[strings.TrimPrefix(name, "compile/")]; found {
		_, err := luart.Compile(luart.Source{ID: "app:deep", File: "deep.lua", Code: []byte(c.code), Method: "main", Kind: luart.KindProcess})
		var se *luart.SyntaxError
		if !errors.As(err, &se) || se.File != "deep.lua" || se.Line != c.wantLine || !strings.Contains(se.Msg, "chunk has too many syntax levels") {
			t.Errorf("compile error %v, want deep.lua:%d: chunk has too many syntax levels", err, c.wantLine)
		}
	} else {
		t.Fatalf("unknown case %q", name)
	}
	// The node still runs scripts.
	if v, _ := ok(t, e.run(`return { main = function() return "alive" end }`)).Text(); v != "alive" {
		t.Fatalf("a process after the case returned %q", v)
	}
}
