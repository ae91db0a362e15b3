package luart

import (
	"errors"
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// Errors of the Lua runtime. Match with errors.Is.
var (
	// ErrSyntax: a Lua source did not compile. The error is a *SyntaxError.
	ErrSyntax = errors.New("lua syntax error")
	// ErrUnknownProgram: no process.lua entry of that id is known.
	ErrUnknownProgram = errors.New("unknown process.lua entry")
	// ErrUnknownModule: a module named in an entry's modules list does not exist.
	ErrUnknownModule = errors.New("unknown module")
	// ErrNoMethod: the source defines no function of the entry's method name.
	ErrNoMethod = errors.New("method not found")
	// ErrLua: Lua code raised an error. The error is an *Error.
	ErrLua = errors.New("lua error")
	// ErrTimeout: an HTTP handler ran longer than its timeout.
	ErrTimeout = errors.New("handler timed out")
	// ErrMemoryLimit: Lua code passed its state's memory budget (see
	// docs/lua.md, Bounds). The error is an *Error whose message holds
	// "memory limit exceeded"; errors.Is matches both ErrLua and this.
	ErrMemoryLimit = errors.New("memory limit exceeded")
)

// SyntaxError reports a Lua source that does not compile.
type SyntaxError struct {
	File   string // the source file, as given to Compile
	Line   int    // 1-based; 0 when unknown
	Column int    // 1-based; 0 when unknown
	Msg    string // what is wrong, without the position
}

func (e *SyntaxError) Error() string {
	switch {
	case e.Line == 0:
		return e.File + ": " + e.Msg
	case e.Column == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Is makes errors.Is(err, ErrSyntax) true.
func (e *SyntaxError) Is(target error) bool { return target == ErrSyntax }

// Error is a Lua error that ended a process or a handler: the message and
// the Lua traceback.
type Error struct {
	Message   string
	Traceback string
}

func (e *Error) Error() string {
	if e.Traceback == "" {
		return e.Message
	}
	return e.Message + "\n" + e.Traceback
}

// Is makes errors.Is(err, ErrLua) true, and errors.Is(err,
// ErrMemoryLimit) for the error of the memory budget.
func (e *Error) Is(target error) bool {
	return target == ErrLua || target == ErrMemoryLimit && strings.Contains(e.Message, lua.ErrMemoryLimit)
}

// ConvertError reports a Lua value that cannot become a payload value.
type ConvertError struct {
	Path string // where in the value, like ".items[2]"; empty at the top
	Msg  string
}

func (e *ConvertError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return "at " + strings.TrimPrefix(e.Path, ".") + ": " + e.Msg
}
