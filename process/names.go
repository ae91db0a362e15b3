package process

import (
	"strconv"
	"strings"

	"github.com/wsrelay/wsrelay/pid"
)

// Register gives the local process p the name. A name belongs to one live
// process at a time and is released when that process ends; registering a
// taken name is ErrNameTaken, a process that has ended ErrNoProc. A process
// may hold several names. Names may not be empty, start with '{' (that is a
// PID) or contain control characters.
func (n *Node) Register(name string, p pid.PID) error {
	if err := checkRegName(name); err != nil {
		return err
	}
	p = n.normalize(p)
	if !n.IsLocal(p) {
		return &OpError{Op: "register", Arg: strconv.Quote(name), Err: ErrNotLocal}
	}
	n.namesMu.Lock()
	defer n.namesMu.Unlock()
	if owner, ok := n.names[name]; ok {
		if owner == p {
			return nil
		}
		return &OpError{Op: "register", Arg: strconv.Quote(name), Err: ErrNameTaken}
	}
	proc := n.lookup(p)
	if proc == nil {
		return &OpError{Op: "register", Arg: strconv.Quote(name), Err: ErrNoProc}
	}
	// Lock order: namesMu, then a process's mu (exit never holds both).
	proc.mu.Lock()
	if proc.dead {
		proc.mu.Unlock()
		return &OpError{Op: "register", Arg: strconv.Quote(name), Err: ErrNoProc}
	}
	proc.names = append(proc.names, name)
	proc.mu.Unlock()
	n.names[name] = p
	return nil
}

// Lookup returns the PID registered under name.
func (n *Node) Lookup(name string) (pid.PID, bool) {
	n.namesMu.Lock()
	p, ok := n.names[name]
	n.namesMu.Unlock()
	return p, ok
}

// Unregister releases name. It reports whether the name was registered.
func (n *Node) Unregister(name string) bool {
	n.namesMu.Lock()
	defer n.namesMu.Unlock()
	p, ok := n.names[name]
	if !ok {
		return false
	}
	delete(n.names, name)
	if proc := n.lookup(p); proc != nil {
		proc.mu.Lock()
		for i, s := range proc.names {
			if s == name {
				proc.names = append(proc.names[:i], proc.names[i+1:]...)
				break
			}
		}
		proc.mu.Unlock()
	}
	return true
}

// releaseNames frees the names of a process that ended.
func (n *Node) releaseNames(p pid.PID, names []string) {
	if len(names) == 0 {
		return
	}
	n.namesMu.Lock()
	for _, name := range names {
		if n.names[name] == p {
			delete(n.names, name)
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
	return pid.PID{}, &OpError{Op: "resolve", Arg: strconv.Quote(dest), Err: ErrUnknownName}
}

func checkRegName(name string) error {
	bad := func(msg string) error {
		return &OpError{Op: "register", Arg: strconv.Quote(name), Err: &nameError{msg}}
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

type nameError struct{ msg string }

func (e *nameError) Error() string        { return e.msg }
func (e *nameError) Is(target error) bool { return target == ErrInvalidName }
