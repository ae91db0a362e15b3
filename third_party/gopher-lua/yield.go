package lua

import "fmt"

// wsrelay patch: waits that yield through pcall, xpcall and coroutines.
//
// Upstream runs pcall, xpcall and coroutine.resume by calling the VM again
// from Go, and a yield cannot unwind those Go frames: code inside them
// could not yield to the embedder. Two changes let it:
//
// Protected calls made by the VM. In a state with Limits, a pcall or
// xpcall made from a coroutine's outermost VM loop (no Go call of the VM
// between: nestedCalls is 0) does not call the VM again. It replaces its
// own frame by the frame of the function it protects and records a
// protectRec; the loop goes on into that function. The record is dropped
// when the call stack returns below it (OP_RETURN, the return of a Go
// function, a Go function's yield). An error unwinds the Go stack to the
// coroutine's threadRun, which finds the innermost record, calls xpcall's
// handler at the error's stack, unwinds the call stack to the pcall's
// caller, puts false and the error where pcall's results go and runs the
// loop again. A yield inside the protected function is a plain yield of
// the coroutine, and its next resume goes on inside it, still protected.
// Anywhere else (a pcall called from Go, from a metamethod, as a tail
// call, on a state without Limits) pcall is upstream's.
//
// Bounds: a record is 32 bytes and holds at least one call frame, so the
// records of a thread are bounded by its call stack size; no Go frame is
// added per protected call (a protected Go function is called by the loop
// in callGFunction, one at a time).
//
// Yields passed on. A Go function of a coroutine C that coroutine.resume
// resumed may yield with YieldToRoot; when C returns to coroutine.resume
// in its resumer B, B yields in turn (its coroutine.resume frame stays on
// its stack), and so on up to the thread the embedder resumed with
// (*LState).Resume, which returns ResumeYield. The next Resume of that
// thread does not go on in its Lua code: each thread of the chain resumes
// its passChild from where coroutine.resume left it (passOn), the
// innermost gets the values of the Resume, and when a coroutine of the
// chain returns, yields or fails in the ordinary way, its resumer's
// coroutine.resume returns that as it would have. YieldRoot says whether
// such a yield is possible: every thread of the chain runs its outermost
// loop, and the resumers are stopped in coroutine.resume itself.

// protectRec is a protected call made by the VM: the call stack depth of
// the protected function's frame, the register of the pcall's results,
// the results its caller wants, and xpcall's handler (nil for pcall).
type protectRec struct {
	sp, base, nret int
	handler        *LFunction
}

// Results of a Go function that tell callGFunction the function changed
// the call stack itself (wsrelay patch).
const (
	goCallNext   = -2 // a Go function's frame is on top: call it now
	goCallLua    = -3 // a Lua function's frame is on top: the loop goes on with it
	goCallPassed = -4 // coroutine.resume passes on a yield (passThread): its frame stays
)

// canProtectInVM reports whether the pcall or xpcall running now (the
// current frame) can be made by the VM: a call from a Lua function in the
// outermost loop of a coroutine of a state with Limits.
func (ls *LState) canProtectInVM() bool {
	if ls.G.limits == nil || ls.Parent == nil || ls.nestedCalls != 0 {
		return false
	}
	cf := ls.currentFrame
	return cf != nil && cf.Parent != nil && !cf.Parent.Fn.IsG
}

// protectedCall replaces the current frame (pcall's or xpcall's, whose
// first argument is the function and the rest its arguments) by a call of
// the function, protected by a new record, and returns what callGFunction
// does next. The function's results go one register above pcall's, which
// holds true. A tail call (return pcall(f)) is made as a plain call whose
// results stay in the caller's registers from pcall's own: the compiler
// follows every OP_TAILCALL with an OP_RETURN of those registers, which
// returns them; as upstream's pcall, it is not a proper tail call.
func (ls *LState) protectedCall(handler *LFunction) int {
	frame := ls.currentFrame
	fbase, base, nret := frame.Base+1, frame.ReturnBase, frame.NRet
	if ls.goTail {
		base, nret = frame.Base, MultRet
	}
	nargs := ls.GetTop() - 1
	lv := ls.reg.Get(fbase)
	ls.stack.Pop()
	ls.currentFrame = ls.stack.Last()
	ls.reg.Set(base, LTrue)
	fnret := nret
	if nret > 0 {
		fnret = nret - 1
	}
	ls.protects = append(ls.protects, protectRec{sp: ls.stack.Sp() + 1, base: base, nret: nret, handler: handler})
	callable, isfn := lv.(*LFunction)
	meta := false
	if !isfn {
		callable, meta = ls.metaCall(lv)
	}
	ls.pushCallFrame(callFrame{
		Fn:         callable,
		Pc:         0,
		Base:       fbase,
		LocalBase:  fbase + 1,
		ReturnBase: base + 1,
		NArgs:      nargs,
		NRet:       fnret,
		Parent:     ls.currentFrame,
		TailCall:   0,
	}, lv, meta)
	if callable.IsG {
		return goCallNext
	}
	return goCallLua
}

// popProtects drops the records of protected calls that have returned
// (their frame is above the call stack's top).
func (ls *LState) popProtects() {
	sp := ls.stack.Sp()
	n := len(ls.protects)
	for n > 0 && ls.protects[n-1].sp > sp {
		n--
		ls.protects[n].handler = nil
	}
	ls.protects = ls.protects[:n]
}

// catchProtected is called by threadRun with a recovered error: if a
// protected call made by the VM is running, it catches the error there and
// returns true (the loop goes on after the pcall). As pcall does under
// Limits, an error once the state's context is done is not caught.
func (ls *LState) catchProtected(rcv interface{}) bool {
	n := len(ls.protects)
	if n == 0 {
		return false
	}
	if ls.G.limits != nil && ls.ctx != nil && ls.ctx.Err() != nil {
		return false
	}
	var lv LValue
	if aerr, ok := rcv.(*ApiError); ok {
		lv = aerr.Object
	} else {
		lv = LString(fmt.Sprint(rcv))
	}
	rec := ls.protects[n-1]
	ls.G.CurrentThread = ls
	if rec.handler != nil {
		// xpcall's handler runs at the error's stack, as upstream's.
		ls.Push(rec.handler)
		ls.Push(lv)
		if err := ls.PCall(1, 1, nil); err != nil {
			if aerr, ok := err.(*ApiError); ok {
				lv = aerr.Object
			} else {
				lv = LString(err.Error())
			}
		} else {
			lv = ls.Get(-1)
		}
	}
	ls.stack.SetSp(rec.sp - 1)
	ls.currentFrame = ls.stack.Last()
	ls.closeUpvalues(rec.base)
	ls.popProtects()
	ls.reg.SetTop(rec.base)
	ls.reg.Push(LFalse)
	ls.reg.Push(lv)
	if rec.nret != MultRet {
		ls.reg.SetTop(rec.base + rec.nret)
	}
	return true
}

// YieldRoot returns the thread that a yield of ls made with YieldToRoot
// reaches: the thread resumed by (*LState).Resume, when ls is that thread
// or a coroutine that it resumed with coroutine.resume (or a wrap), at any
// depth, and no Go code other than those resumes calls the VM between
// them. It returns nil when there is no such thread: then a Go function
// of ls must not yield with YieldToRoot. ls is running a Go function
// called from its own outermost loop, or at a preemption point.
func (ls *LState) YieldRoot() *LState {
	want := int32(0)
	for th := ls; th != nil; th = th.Parent {
		if th.nestedCalls != want || th.Dead {
			return nil
		}
		if th.resumedByAPI {
			return th
		}
		p := th.Parent
		if p == nil {
			return nil
		}
		// p is stopped in the coroutine.resume that resumed th, called
		// by a Lua function (not as p's own body).
		if cf := p.currentFrame; cf == nil || !cf.Fn.IsG || p.stack.Sp() < 2 {
			return nil
		}
		want = 1 // that coroutine.resume's own entry of the VM
	}
	return nil
}

// YieldToRoot yields ls, and every coroutine that resumed it, up to the
// thread that YieldRoot returns, which yields from its (*LState).Resume
// with values. The next Resume of that thread goes on in ls, the Go
// function that yielded returning the values of that Resume.
func (ls *LState) YieldToRoot(values ...LValue) int {
	ls.passYield = true
	return ls.Yield(values...)
}

// fillYield pushes nil for the results beyond n the caller of the Go
// function that yielded wants (see Resume).
func (ls *LState) fillYield(n int) {
	for i := n; i < ls.yieldNRet; i++ {
		ls.Push(LNil)
	}
	ls.yieldNRet = 0
}

// passThread makes ls, stopped in the coroutine.resume of passChild, yield
// to its resumer with no values and its frames as they are.
func passThread(ls *LState) {
	parent := ls.Parent
	ls.G.CurrentThread = parent
	ls.Parent = nil
	if !ls.wrapped {
		parent.Push(LTrue) // a resume that did not fail
	}
	ls.passYield = true
}

// resumePassed goes on with the coroutine.resume (the current frame) in
// which ls passed on the yield of c: it resumes c with the values ls was
// resumed with, and when c stops in the ordinary way returns from the
// coroutine.resume as callGFunction would. True when ls no longer runs
// (it passed on a yield again, or the tail call ended it).
func resumePassed(ls, c *LState) bool {
	frame := ls.currentFrame
	n, passed := passOn(ls, c)
	if passed {
		return true
	}
	return finishGoCall(ls, frame, ls.passTail, n)
}

// passOn resumes c, whose yield ls passed on, as coroutine.resume does,
// and returns the number of values c's stop left on ls's stack, or true
// when c passed on a yield again (and so did ls).
func passOn(ls, c *LState) (int, bool) {
	nargs := int(ls.passNArgs)
	ls.passNArgs = 0
	ls.enterGoCall()
	defer ls.leaveGoCall()
	c.Parent = ls
	c.resumedByAPI = false
	ls.G.CurrentThread = c
	ls.XMoveTo(c, nargs)
	if c.passChild != nil {
		c.passNArgs = int32(nargs)
	} else {
		c.fillYield(nargs)
	}
	top := ls.reg.Top()
	threadRun(c)
	ls.reraiseIfInterrupted(nil)
	if c.passYield {
		c.passYield = false
		ls.reg.SetTop(top)
		ls.passChild = c
		passThread(ls)
		return 0, true
	}
	return ls.reg.Top() - top, false
}

// ReleaseStack gives back the first segment of ls's call-frame stack
// while the stack is empty and grows on demand (Options.MinimizeStackMemory);
// the next call takes one again. For a thread that ran its chunk and now
// only resumes coroutines, such as the main thread of a wsrelay Lua
// process: 700 bytes less a waiting process (wsrelay patch).
func (ls *LState) ReleaseStack() {
	if cs, ok := ls.stack.(*autoGrowingCallFrameStack); ok && cs.IsEmpty() && cs.segments[0] != nil {
		freeCallFrameStackSegment(cs.segments[0])
		cs.segments[0] = nil
	}
}
