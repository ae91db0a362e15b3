package process

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wsrelay/wsrelay/pid"
)

// Names have owners. A name is held by one live process at a time, and
// only its holder releases it (or ends, which releases it). A keeper, such
// as the supervisor of a service, may also reserve a name: while the
// keeper lives nobody but the processes it registers under that name can
// hold it, so a name stays with its service across restarts.
//
// The Node methods Register, Reserve and Unregister act with the node's own
// authority (Go code that holds the *Node, such as a supervisor); the
// ...By variants and the Process methods act on behalf of a process and
// enforce ownership. Application code (Lua) only gets the latter.

// Bounds of names. Names live outside any Lua state, so no memory budget
// sees them: a script registering names in a loop would pin memory for as
// long as its process lives. A name has at most MaxNameLen bytes (as a
// cluster-wide name), a process holds at most Options.MaxNamesPerProcess
// names, and the node at most Options.MaxNames: at most about
// MaxNames × (MaxNameLen + 100) bytes, 35 MB by default. Cluster-wide
// names go through the node's table too (their holder holds them here),
// so the same bounds hold for them.
const (
	MaxNameLen                = 256
	DefaultMaxNames           = 100_000
	DefaultMaxNamesPerProcess = 64
)

// defaultBound is a bound option: v, or def for zero, or -1 (no bound)
// for a negative v.
func defaultBound(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return -1
	}
	return v
}

// nameEntry is one registered or reserved name.
type nameEntry struct {
	holder pid.PID // the process the name resolves to; zero while only reserved
	keeper pid.PID // the process that reserved it; zero when not reserved
}

// Register gives the local process p the name, with the node's authority:
// it may fill a name a keeper reserved. A name belongs to one live process
// at a time and is released when that process ends; registering a name
// another process holds is a *NameHeldError (ErrNameTaken), a process that
// has ended ErrNoProc. A process may hold several names. Names may not be
// empty, start with '{' (that is a PID) or contain control characters.
func (n *Node) Register(name string, p pid.PID) error {
	return n.register(pid.PID{}, false, name, p)
}

// RegisterBy registers p under name on behalf of the process by (zero for
// code that is no process, such as an HTTP handler). It is Register,
// except that a name reserved by a keeper other than by is refused with a
// *NameHeldError.
func (n *Node) RegisterBy(by pid.PID, name string, p pid.PID) error {
	return n.register(n.normalizeCaller(by), true, name, p)
}

// normalizeCaller normalizes the PID of a caller, leaving zero (no
// process) as it is.
func (n *Node) normalizeCaller(by pid.PID) pid.PID {
	if by.IsZero() {
		return by
	}
	return n.normalize(by)
}

func (n *Node) register(by pid.PID, checked bool, name string, p pid.PID) error {
	if err := checkRegName(name); err != nil {
		return err
	}
	p = n.normalize(p)
	if !n.IsLocal(p) {
		return &OpError{Op: "register", Arg: strconv.Quote(name), Err: ErrNotLocal}
	}
	n.namesMu.Lock()
	defer n.namesMu.Unlock()
	e := n.names[name]
	if e.holder == p {
		return nil
	}
	if !e.holder.IsZero() {
		return &NameHeldError{Op: "register", Name: name, Holder: e.holder}
	}
	if checked && !e.keeper.IsZero() && e.keeper != by {
		return &NameHeldError{Op: "register", Name: name, Holder: e.keeper, Reserved: true}
	}
	if err := n.roomForName(name, "register"); err != nil {
		return err
	}
	if err := n.addName(p, name, "register"); err != nil {
		return err
	}
	e.holder = p
	n.names[name] = e
	return nil
}

// roomForName refuses a name the node does not have yet when it holds
// maxNames already; namesMu is held.
func (n *Node) roomForName(name, op string) error {
	if _, ok := n.names[name]; ok || n.maxNames < 0 || len(n.names) < n.maxNames {
		return nil
	}
	return &OpError{Op: op, Arg: strconv.Quote(name), Err: &TooManyNamesError{Max: n.maxNames}}
}

// addName records name in the names of the live process p, so that its
// end releases it; namesMu is held. Lock order: namesMu, then a process's
// mu (exit never holds both).
func (n *Node) addName(p pid.PID, name, op string) error {
	proc := n.lookup(p)
	if proc == nil {
		return &OpError{Op: op, Arg: strconv.Quote(name), Err: ErrNoProc}
	}
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if proc.dead {
		return &OpError{Op: op, Arg: strconv.Quote(name), Err: ErrNoProc}
	}
	if n.maxProcNames >= 0 && len(proc.names) >= n.maxProcNames {
		return &OpError{Op: op, Arg: strconv.Quote(name), Err: &TooManyNamesError{Max: n.maxProcNames, Holder: p}}
	}
	proc.names = append(proc.names, name)
	return nil
}

// Reserve keeps name for the local process keeper, with the node's
// authority: until keeper ends, only keeper (through RegisterBy) or code
// with the node's authority (Register, a spawn with SpawnOptions.Name) can
// give the name to a process, and a holder that unregisters it gives it
// back to the reservation rather than to anyone. A name held or reserved
// by another process is a *NameHeldError. Lookup does not find a name
// that is only reserved.
func (n *Node) Reserve(name string, keeper pid.PID) error {
	if err := checkRegName(name); err != nil {
		return err
	}
	keeper = n.normalize(keeper)
	if !n.IsLocal(keeper) {
		return &OpError{Op: "reserve", Arg: strconv.Quote(name), Err: ErrNotLocal}
	}
	n.namesMu.Lock()
	defer n.namesMu.Unlock()
	e := n.names[name]
	switch {
	case e.keeper == keeper:
		return nil
	case !e.keeper.IsZero():
		return &NameHeldError{Op: "reserve", Name: name, Holder: e.keeper, Reserved: true}
	case !e.holder.IsZero() && e.holder != keeper:
		return &NameHeldError{Op: "reserve", Name: name, Holder: e.holder}
	}
	if err := n.roomForName(name, "reserve"); err != nil {
		return err
	}
	if err := n.addName(keeper, name, "reserve"); err != nil {
		return err
	}
	e.keeper = keeper
	n.names[name] = e
	return nil
}

// HasName reports whether the local process p holds (or keeps reserved)
// a name: a process others find by name is shared.
func (n *Node) HasName(p pid.PID) bool {
	proc := n.lookup(p)
	if proc == nil {
		return false
	}
	proc.mu.Lock()
	defer proc.mu.Unlock()
	return len(proc.names) > 0
}

// Lookup returns the PID registered under name.
func (n *Node) Lookup(name string) (pid.PID, bool) {
	n.namesMu.Lock()
	e := n.names[name]
	n.namesMu.Unlock()
	return e.holder, !e.holder.IsZero()
}

// Unregister releases name, and its reservation, with the node's
// authority, whoever holds it. It reports whether the name was registered
// or reserved.
func (n *Node) Unregister(name string) bool {
	n.namesMu.Lock()
	defer n.namesMu.Unlock()
	e, ok := n.names[name]
	if !ok {
		return false
	}
	delete(n.names, name)
	n.dropName(e.holder, name)
	n.dropName(e.keeper, name)
	return true
}

// UnregisterBy releases name on behalf of the process by (zero for code
// that is no process): only the name's holder may. A name nobody holds is
// an *OpError wrapping ErrUnknownName; one another process holds a
// *NameHeldError naming the holder. A name its keeper reserved goes back
// to the reservation.
func (n *Node) UnregisterBy(by pid.PID, name string) error {
	by = n.normalizeCaller(by)
	n.namesMu.Lock()
	defer n.namesMu.Unlock()
	e := n.names[name]
	switch {
	case e.holder.IsZero():
		return &OpError{Op: "unregister", Arg: strconv.Quote(cutName(name)), Err: ErrUnknownName}
	case e.holder != by:
		return &NameHeldError{Op: "unregister", Name: name, Holder: e.holder}
	}
	n.dropName(e.holder, name)
	if e.keeper.IsZero() {
		delete(n.names, name)
		return nil
	}
	n.names[name] = nameEntry{keeper: e.keeper}
	return nil
}

// dropName removes name from the names of the local process p; namesMu is
// held.
func (n *Node) dropName(p pid.PID, name string) {
	if p.IsZero() {
		return
	}
	proc := n.lookup(p)
	if proc == nil {
		return
	}
	proc.mu.Lock()
	for i, s := range proc.names {
		if s == name {
			proc.names = append(proc.names[:i], proc.names[i+1:]...)
			break
		}
	}
	proc.mu.Unlock()
}

// releaseNames frees the names a process that ended held or kept.
func (n *Node) releaseNames(p pid.PID, names []string) {
	if len(names) == 0 {
		return
	}
	n.namesMu.Lock()
	for _, name := range names {
		e, ok := n.names[name]
		if !ok {
			continue
		}
		if e.holder == p {
			e.holder = pid.PID{}
		}
		if e.keeper == p {
			e.keeper = pid.PID{}
		}
		if e.holder.IsZero() && e.keeper.IsZero() {
			delete(n.names, name)
		} else {
			n.names[name] = e
		}
	}
	n.namesMu.Unlock()
}

// Resolve turns a destination into a PID: text starting with '{' is parsed
// as a PID, anything else is looked up as a registered name: among the
// cluster-wide names first (Options.ClusterNames), then the node's own.
func (n *Node) Resolve(dest string) (pid.PID, error) {
	if strings.HasPrefix(dest, "{") {
		p, err := pid.Parse(dest)
		if err != nil {
			return pid.PID{}, err
		}
		return n.normalize(p), nil
	}
	if n.cnames != nil {
		if p, ok := n.cnames.LookupName(dest); ok {
			return p, nil
		}
	}
	if p, ok := n.Lookup(dest); ok {
		return p, nil
	}
	return pid.PID{}, &OpError{Op: "resolve", Arg: strconv.Quote(cutName(dest)), Err: ErrUnknownName}
}

// NameHeldError reports an operation on a name that another process holds
// or keeps reserved. errors.Is(err, ErrNameTaken) is true.
type NameHeldError struct {
	Op       string  // "register", "reserve" or "unregister"
	Name     string  // the name
	Holder   pid.PID // who holds it (or reserved it)
	Reserved bool    // Holder is the name's keeper, not its holder
}

func (e *NameHeldError) Error() string {
	how := "held"
	if e.Reserved {
		how = "reserved"
	}
	return fmt.Sprintf("process: %s %s: name %s is %s by %s", e.Op, strconv.Quote(e.Name), e.Name, how, e.Holder)
}

// Is makes errors.Is(err, ErrNameTaken) true.
func (e *NameHeldError) Is(target error) bool { return target == ErrNameTaken }

func checkRegName(name string) error {
	bad := func(msg string) error {
		return &OpError{Op: "register", Arg: strconv.Quote(cutName(name)), Err: &nameError{msg}}
	}
	if len(name) > MaxNameLen {
		return bad("a name must be at most " + strconv.Itoa(MaxNameLen) + " bytes, got " + strconv.Itoa(len(name)))
	}
	if name == "" {
		return bad("a name must not be empty")
	}
	if name[0] == '{' {
		return bad("a name must not start with '{' (that is how PIDs are written)")
	}
	for _, r := range name {
		if r < ' ' || r == 0x7f {
			return bad("a name must not contain control characters")
		}
	}
	return nil
}

// cutName is name as an error shows it: its first 64 bytes.
func cutName(name string) string {
	if len(name) <= 64 {
		return name
	}
	return strings.ToValidUTF8(name[:64], "") + "…"
}

// TooManyNamesError reports a name refused because the node (Holder
// zero) or the process Holder holds Max names already.
// errors.Is(err, ErrTooManyNames) is true.
type TooManyNamesError struct {
	Max    int
	Holder pid.PID
}

func (e *TooManyNamesError) Error() string {
	if e.Holder.IsZero() {
		return "the node holds " + strconv.Itoa(e.Max) + " names already, its limit"
	}
	return "process " + e.Holder.String() + " holds " + strconv.Itoa(e.Max) + " names already, the limit of a process"
}

// Is makes errors.Is(err, ErrTooManyNames) true.
func (e *TooManyNamesError) Is(target error) bool { return target == ErrTooManyNames }

type nameError struct{ msg string }

func (e *nameError) Error() string        { return e.msg }
func (e *nameError) Is(target error) bool { return target == ErrInvalidName }
