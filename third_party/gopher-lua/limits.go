package lua

// wsrelay patch (see PATCHES.md): memory accounting and interruption of
// long builtins. Nothing here runs unless SetLimits was called: a state
// without Limits behaves as upstream gopher-lua.

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"unsafe"
)

// ErrMemoryLimit is the start of the message of the Lua error raised when a
// state's live data would exceed Limits.MaxBytes.
const ErrMemoryLimit = "memory limit exceeded"

// Limits bound the code of one state and its coroutines. Set them with
// SetLimits before running code; they are used from the state's own
// goroutine only.
//
// Memory is accounted like a garbage-collector pacer: allocation points in
// the VM and in the builtins (string building, table growth, new tables,
// closures and coroutines) charge an estimate of the bytes they allocate;
// once the charges since the last measurement pass a pace, the state's live
// data is measured by a walk from its roots. Live data over MaxBytes raises
// a Lua error starting with ErrMemoryLimit. Builtins that make one large
// result check its size against what is left of the budget before they
// allocate it.
type Limits struct {
	// MaxBytes bounds the live data reachable from the state, in bytes as
	// estimated by the walk. Zero means no memory bound.
	MaxBytes int64
	// Shared reports values that belong to many states (library tables,
	// their functions, shared metatables): they are neither counted nor
	// walked. Nil counts everything.
	Shared func(LValue) bool
	// UserData returns the bytes a userdata's Go value holds and calls
	// visit for each Lua value it keeps alive. Nil counts userdata as
	// their Lua fields only.
	UserData func(ud *LUserData, visit func(LValue)) int64
	// Roots calls visit for values the state keeps alive outside its
	// registry, globals and stacks. May be nil.
	Roots func(visit func(LValue))
	// Interrupt, if set, is called every InterruptEvery VM instructions
	// and every InterruptEvery steps of a long builtin (pattern matching,
	// sorting, ...). A non-nil error is raised as a Lua error, which is how
	// a builtin loop is stopped. It also gives the scheduler a chance to
	// run other goroutines (see Yield).
	Interrupt func() error
	// InterruptEvery is the number of steps between Interrupt calls.
	// Default 1024.
	InterruptEvery int
	// Yield makes the state call runtime.Gosched at every Interrupt check
	// of the VM loop, so that a busy script shares a core with others.
	Yield bool
	// BeforeGoCall, if set, is called before every Go function the
	// state's code calls (a builtin may block). With Interrupt it lets the
	// embedder hand out a limited number of CPU slots to busy scripts.
	BeforeGoCall func()
	// Preempt, if set, is asked at every Interrupt check of the VM loop of
	// a coroutine run by Resume or coroutine.resume (not one made by
	// coroutine.wrap, and not a loop entered again from Go inside it: a
	// pcall, a metamethod): true makes the coroutine yield to its resumer
	// at the instruction it was about to run, with no values, so that the
	// embedder's scheduler can run something else; the next Resume goes
	// on from there (wsrelay patch). The embedder answers true only for
	// the coroutines it resumes itself.
	Preempt func(L *LState) bool

	charged  int64 // bytes charged since the last measurement
	live     int64 // live bytes found by the last measurement
	pace     int64 // charge at which to measure again
	steps    int   // countdown to the next Interrupt call
	measures int64 // number of walks so far
	checks   int64 // Interrupt checks so far, each after InterruptEvery steps (wsrelay patch)
}

const minPace = 256 << 10

// SetLimits sets the limits of ls and of every coroutine it creates
// afterwards. A nil lm removes them. Call it on the main thread before
// running code.
func (ls *LState) SetLimits(lm *Limits) {
	if lm != nil {
		if lm.InterruptEvery <= 0 {
			lm.InterruptEvery = 1024
		}
		lm.steps = lm.InterruptEvery
		lm.pace = minPace
	}
	ls.G.limits = lm
	switch {
	case lm != nil:
		ls.mainLoop = mainLoopWithLimits
	case ls.ctx != nil:
		ls.mainLoop = mainLoopWithContext
	default:
		ls.mainLoop = mainLoop
	}
}

// Limits returns the state's limits, or nil.
func (ls *LState) Limits() *Limits { return ls.G.limits }

// Usage reports the state's memory as its budget counts it (the live
// bytes last measured plus what was charged since) and the steps it has
// run (VM instructions and steps of long builtins, counted in whole
// InterruptEvery runs). Call it on the state's goroutine (wsrelay patch).
func (lm *Limits) Usage() (bytes, steps int64) {
	return lm.live + lm.charged, lm.checks * int64(lm.InterruptEvery)
}

// LimitStats reports the last measured live bytes and the number of
// measurements made.
func (lm *Limits) LimitStats() (live int64, measures int64) { return lm.live, lm.measures }

// ResetMemory forgets the charges and the last measurement; a pooled state
// calls it between uses.
func (lm *Limits) ResetMemory() {
	lm.charged, lm.live, lm.pace = 0, 0, minPace
}

// charge records n bytes allocated; past the pace it measures the live
// data and raises the memory error if it is over the budget.
func (ls *LState) charge(n int) {
	lm := ls.G.limits
	if lm == nil || lm.MaxBytes <= 0 {
		return
	}
	lm.charged += int64(n)
	if lm.charged >= lm.pace {
		ls.measure(0)
	}
}

// ChargeSet charges the growth of tb by a new key: an entry, or for an
// integer key past the end of the array part, the slots up to it (a raw
// t[50000000] = 1 grows the array to 50 million slots at once).
func (ls *LState) ChargeSet(tb *LTable, key LValue) {
	lm := ls.G.limits
	if lm == nil || lm.MaxBytes <= 0 {
		return
	}
	if k, ok := key.(LNumber); ok && isArrayKey(k) {
		if gap := int(k) - len(tb.array); gap > 1 {
			ls.checkAlloc(gap * sizeSlot)
			return
		}
	}
	ls.charge(sizeMapEntry)
}

// checkAlloc is called before a builtin allocates a result of n bytes. It
// raises the memory error if n does not fit in what is left of the
// budget, measuring first when the last measurement is not enough to
// tell.
func (ls *LState) checkAlloc(n int) {
	lm := ls.G.limits
	if lm == nil || lm.MaxBytes <= 0 {
		return
	}
	if int64(n) > lm.MaxBytes {
		ls.RaiseError("%s: a result of %d bytes is larger than the limit of %d bytes", ErrMemoryLimit, n, lm.MaxBytes)
	}
	// Measure first when needed, then charge: the result is not reachable
	// yet, so a measurement cannot see it, and the charge keeps it counted
	// until the next one does.
	if lm.live+lm.charged+int64(n) > lm.MaxBytes || lm.charged+int64(n) >= lm.pace {
		ls.measure(int64(n))
	}
	lm.charged += int64(n)
}

// measure walks the live data and raises the memory error if it, plus
// extra bytes about to be allocated, is over the budget.
func (ls *LState) measure(extra int64) {
	lm := ls.G.limits
	live := ls.LiveBytes()
	lm.live, lm.charged = live, 0
	lm.measures++
	// Measure again after as many bytes as a quarter of the live data, or
	// half of what is left of the budget, whichever is more: the walks
	// cost at most a fixed share of the allocations, and the live data
	// can pass the budget by at most a quarter before it is seen (as far
	// as the charges are not below what is allocated).
	lm.pace = max(minPace, live/4, (lm.MaxBytes-live)/2)
	if live+extra > lm.MaxBytes {
		lm.pace = minPace // a caught error does not buy a long run
		if extra > 0 {
			ls.RaiseError("%s: a result of %d bytes does not fit (live data %d bytes, limit %d bytes)", ErrMemoryLimit, extra, live, lm.MaxBytes)
		}
		ls.RaiseError("%s: live data %d bytes, limit %d bytes", ErrMemoryLimit, live, lm.MaxBytes)
	}
}

// interruptStep counts one step of a long builtin and calls
// Limits.Interrupt every InterruptEvery steps, raising its error.
func (ls *LState) interruptStep() {
	lm := ls.G.limits
	if lm == nil {
		return
	}
	lm.steps--
	if lm.steps > 0 {
		return
	}
	lm.steps = lm.InterruptEvery
	lm.checks++
	if err := ls.checkInterrupt(); err != nil {
		ls.RaiseError("%s", err.Error())
	}
}

// vmStep is interruptStep for the VM loop: it also yields the processor
// when Limits.Yield is set.
func (ls *LState) vmStep() {
	lm := ls.G.limits
	lm.steps--
	if lm.steps > 0 {
		return
	}
	lm.steps = lm.InterruptEvery
	lm.checks++
	if err := ls.checkInterrupt(); err != nil {
		ls.RaiseError("%s", err.Error())
	}
	if lm.Yield {
		runtime.Gosched()
	}
}

// patternCheck returns the function the pattern matcher calls every 1024
// steps: it stops the match when the context is done or Interrupt says
// so, and when the matches found so far do not fit in the memory budget.
// Nil when the state has neither a context nor Limits.
func (ls *LState) patternCheck() func(matches int) error {
	lm := ls.G.limits
	if lm == nil && ls.ctx == nil {
		return nil
	}
	return func(matches int) error {
		if err := ls.checkInterrupt(); err != nil {
			return err
		}
		if lm != nil && lm.MaxBytes > 0 && lm.live+int64(matches)*sizeMatch > lm.MaxBytes {
			return fmt.Errorf("%s: %d pattern matches do not fit (live data %d bytes, limit %d bytes)", ErrMemoryLimit, matches, lm.live, lm.MaxBytes)
		}
		return nil
	}
}

// Approximate sizes, in bytes, of the objects the walk counts (64-bit).
const (
	sizeSlot     = 16  // an LValue in an array or on the stack
	sizeMapEntry = 48  // a key and a value in a Go map, with its overhead
	sizeTable    = 120 // an LTable
	sizeFunction = 64  // an LFunction
	sizeUpvalue  = 48  // an Upvalue and its pointer
	sizeUserData = 48  // an LUserData
	sizeString   = 16  // a string header
	sizeThread   = 2048
	sizeFrame    = 80 // a callFrame
	sizeMatch    = 64 // a pattern match (pm.MatchData)
	sizeNumber   = 8  // the boxed float64 behind an LNumber in an interface
)

// LiveBytes walks the data reachable from the state's roots (its
// registry, globals, stacks, coroutines and Limits.Roots) and returns its
// estimated size. Values that Limits.Shared reports are skipped. It runs
// on the state's goroutine.
func (ls *LState) LiveBytes() int64 {
	w := walker{seen: make(map[unsafe.Pointer]struct{}, 256)}
	if lm := ls.G.limits; lm != nil {
		w.shared, w.userData = lm.Shared, lm.UserData
		if lm.Roots != nil {
			lm.Roots(w.push)
		}
	}
	w.push(ls.G.Registry)
	w.push(ls.G.Global)
	w.push(ls.G.MainThread)
	w.push(ls.G.CurrentThread)
	for t := ls; t != nil; t = t.Parent {
		w.push(t)
	}
	return w.run()
}

type walker struct {
	seen     map[unsafe.Pointer]struct{}
	todo     []LValue
	size     int64
	shared   func(LValue) bool
	userData func(*LUserData, func(LValue)) int64
}

func (w *walker) push(v LValue) {
	switch x := v.(type) {
	case nil:
	case LNumber:
		w.size += sizeNumber
	case LString:
		if len(x) == 0 {
			return
		}
		p := unsafe.Pointer(unsafe.StringData(string(x)))
		if _, ok := w.seen[p]; ok {
			return
		}
		w.seen[p] = struct{}{}
		w.size += int64(len(x)) + sizeString
	case *LTable, *LFunction, *LUserData, *LState:
		if x == nil || x == LValue((*LTable)(nil)) || x == LValue((*LState)(nil)) {
			return
		}
		w.todo = append(w.todo, v)
	}
}

func (w *walker) mark(p unsafe.Pointer) bool {
	if _, ok := w.seen[p]; ok {
		return false
	}
	w.seen[p] = struct{}{}
	return true
}

func (w *walker) run() int64 {
	for len(w.todo) > 0 {
		v := w.todo[len(w.todo)-1]
		w.todo = w.todo[:len(w.todo)-1]
		if w.shared != nil && w.shared(v) {
			continue
		}
		switch x := v.(type) {
		case *LTable:
			if x == nil || !w.mark(unsafe.Pointer(x)) {
				continue
			}
			w.size += sizeTable + int64(cap(x.array))*sizeSlot + int64(cap(x.keys))*sizeSlot
			w.size += int64(len(x.strdict)+len(x.dict)+len(x.k2i)) * sizeMapEntry
			for _, e := range x.array {
				w.push(e)
			}
			for k, e := range x.strdict {
				w.push(LString(k))
				w.push(e)
			}
			for k, e := range x.dict {
				w.push(k)
				w.push(e)
			}
			w.push(x.Metatable)
		case *LFunction:
			if x == nil || !w.mark(unsafe.Pointer(x)) {
				continue
			}
			w.size += sizeFunction + int64(len(x.Upvalues))*sizeUpvalue
			if x.Env != nil {
				w.push(x.Env)
			}
			for _, uv := range x.Upvalues {
				if uv != nil {
					w.push(uv.Value())
				}
			}
		case *LUserData:
			if x == nil || !w.mark(unsafe.Pointer(x)) {
				continue
			}
			w.size += sizeUserData
			if x.Env != nil {
				w.push(x.Env)
			}
			w.push(x.Metatable)
			if w.userData != nil {
				w.size += w.userData(x, w.push)
			}
		case *LState:
			if x == nil || !w.mark(unsafe.Pointer(x)) {
				continue
			}
			w.size += sizeThread
			if x.reg != nil {
				w.size += int64(cap(x.reg.array)) * sizeSlot
				for _, e := range x.reg.array[:min(x.reg.top, len(x.reg.array))] {
					w.push(e)
				}
			}
			if x.stack != nil {
				sp := x.stack.Sp()
				w.size += int64(sp) * sizeFrame
				for i := 0; i < sp; i++ {
					if f := x.stack.At(i); f != nil && f.Fn != nil {
						w.push(f.Fn)
					}
				}
			}
			if x.Env != nil {
				w.push(x.Env)
			}
		}
	}
	return w.size
}

// String is for debugging.
func (lm *Limits) String() string {
	return fmt.Sprintf("limits{max=%d live=%d charged=%d pace=%d}", lm.MaxBytes, lm.live, lm.charged, lm.pace)
}

// checkAllocN is checkAlloc of n items of size bytes, refusing products
// that overflow.
func (ls *LState) checkAllocN(size, n int) {
	lm := ls.G.limits
	if lm == nil || lm.MaxBytes <= 0 || size == 0 || n <= 0 {
		return
	}
	if int64(n) > lm.MaxBytes/int64(size) {
		if int64(n) <= math.MaxInt64/int64(size) {
			ls.RaiseError("%s: a result of %d bytes is larger than the limit of %d bytes", ErrMemoryLimit, int64(n)*int64(size), lm.MaxBytes)
		}
		ls.RaiseError("%s: a result of %d x %d bytes is larger than the limit of %d bytes", ErrMemoryLimit, n, size, lm.MaxBytes)
	}
	ls.checkAlloc(size * n)
}

// checkPending raises the memory error when n bytes gathered by a builtin
// for its result (not yet reachable by the walk) do not fit next to the
// live data.
func (ls *LState) checkPending(n int) {
	lm := ls.G.limits
	if lm == nil || lm.MaxBytes <= 0 {
		return
	}
	if lm.live+int64(n) > lm.MaxBytes {
		ls.measure(int64(n))
	}
}

// checkInterrupt returns the context's error once it is done, else what
// Limits.Interrupt returns.
func (ls *LState) checkInterrupt() error {
	if ls.ctx != nil {
		select {
		case <-ls.ctx.Done():
			return ls.ctx.Err()
		default:
		}
	}
	if lm := ls.G.limits; lm != nil && lm.Interrupt != nil {
		return lm.Interrupt()
	}
	return nil
}

// Charge records n bytes allocated by a Go function of the embedding
// program on behalf of the state's code (a builtin of its own).
func (ls *LState) Charge(n int) { ls.charge(n) }

// CheckAlloc is called by a Go function of the embedding program before
// it makes a result of n bytes: it raises the memory error if the result
// does not fit in the budget.
func (ls *LState) CheckAlloc(n int) { ls.checkAlloc(n) }

// reraiseIfInterrupted is called by pcall and xpcall with the error they
// caught (and by coroutine.resume with nil): when the state's context is
// done (a timeout, cancel or terminate), the error goes on up instead of being
// caught, so that a catch-all pcall in a loop cannot keep a stopped state
// running. Only states with Limits; the memory error stays catchable.
func (ls *LState) reraiseIfInterrupted(err error) {
	if ls.G.limits == nil || ls.ctx == nil {
		return
	}
	if ierr := ls.ctx.Err(); ierr != nil {
		if aerr, ok := err.(*ApiError); ok {
			panic(aerr)
		}
		ls.RaiseError("%s", ierr.Error())
	}
}

// substr returns str[i:j] for a string function's result. Under a memory
// budget, a short piece of a long string is copied: a Go substring keeps
// the whole string alive, which the walk would count as the piece only
// (keeping one byte of each of many large strings would hold them all).
func (ls *LState) substr(str string, i, j int) string {
	if ls.G.limits == nil || len(str) < 4096 || j-i > len(str)/2 {
		return str[i:j]
	}
	return strings.Clone(str[i:j])
}
