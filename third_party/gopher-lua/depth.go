package lua

// wsrelay patch (see PATCHES.md): a bound on the Go stack that Lua code can
// make the VM use, for every state (with or without Limits).
//
// A Lua-to-Lua call does not grow the Go stack (the VM pushes a call frame
// and loops), and the number of those frames is bounded per thread by
// Options.CallStackSize. But every time Go code runs Lua code again (pcall,
// xpcall, a metamethod that is a function, a table.sort comparator, a gsub
// callback, tostring with __tostring, load with a reader, coroutine.resume,
// ...) the VM loop is entered again on the same goroutine, below the Go
// frames of the builtin that called it. Those entries nest without any
// per-thread bound: a coroutine resumed from a coroutine starts a new call
// stack. A Go stack overflow is a fatal error of the whole process, which no
// recover, pcall, memory limit or timeout can stop, so the nesting is
// counted per Global (all threads of a state share it) like PUC Lua's
// nCcalls, and the entry past MaxGoCallDepth raises an ordinary, catchable
// Lua error.

// MaxGoCallDepth is the largest number of nested entries of the VM from Go
// code (see above) of one state and all its coroutines. Like PUC Lua's
// LUAI_MAXCCALLS. Set it before creating states.
var MaxGoCallDepth = 200

// ErrGoCallDepth is the message of the Lua error raised past
// MaxGoCallDepth.
const ErrGoCallDepth = "stack overflow (Go calls nested too deep)"

// enterGoCall counts one more entry of the VM from Go on the state's
// goroutine, raising ErrGoCallDepth in ls if that is one too many. Every
// successful enterGoCall is matched by a deferred leaveGoCall, so the count
// stays right when a Lua error unwinds the Go stack.
//
// Bound: each entry adds the Go frames of the builtin that re-entered plus
// one VM loop, around a KiB. Measured with runtime/debug.SetMaxStack
// lowered: 200 nested entries through coroutine.resume and pcall, __lt,
// __concat or gsub callbacks (the largest) run within a 256 KiB goroutine
// stack and fail at 128 KiB; the rest within 128 KiB. That is far below
// Go's 1 GB maximum, whose overflow is fatal.
func (ls *LState) enterGoCall() {
	g := ls.G
	if g.goCalls >= MaxGoCallDepth {
		ls.RaiseError("%s", ErrGoCallDepth)
	}
	g.goCalls++
	ls.nestedCalls++
}

func (ls *LState) leaveGoCall() {
	ls.G.goCalls--
	ls.nestedCalls--
}

// GoCallDepth reports the number of nested entries of the VM from Go that
// are running now (for tests).
func (ls *LState) GoCallDepth() int { return ls.G.goCalls }
