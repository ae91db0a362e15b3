package luart

import (
	"context"
	"errors"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
)

// process.registry: names with a scope. LOCAL names are the node's own
// (process.Node's registry); CONSISTENT names hold across the cluster
// (Options.ClusterNames), and on a node without a cluster they are the
// node's own, since the node is then the whole cluster.

// The scopes, as Lua sees them (process.registry.LOCAL, .CONSISTENT).
const (
	scopeLocal      = "local"
	scopeConsistent = "consistent"
)

// clusterNameTimeout bounds one round trip to the cluster-wide name table
// (a register or an unregister of a CONSISTENT name).
const clusterNameTimeout = 5 * time.Second

// ClusterNames is the cluster-wide name table behind
// process.registry.CONSISTENT; cluster.Names is one.
type ClusterNames interface {
	// Register gives the local process p the name cluster-wide; a name
	// another process holds is an error naming the holder.
	Register(ctx context.Context, name string, p pid.PID) error
	// UnregisterBy releases name on behalf of its holder by.
	UnregisterBy(ctx context.Context, by pid.PID, name string) error
	// LookupName returns the PID name is registered to cluster-wide.
	LookupName(name string) (pid.PID, bool)
}

func (b *libBuilder) registryLib() *lua.LTable {
	t := b.funcs(map[string]lua.LGFunction{
		"register":   bind((*state).regRegister),
		"lookup":     bind((*state).regLookup),
		"unregister": bind((*state).regUnregister),
	})
	t.RawSetString("LOCAL", lua.LString(scopeLocal))
	t.RawSetString("CONSISTENT", lua.LString(scopeConsistent))
	return b.readOnly("process.registry", t)
}

// regRegister is register(name [, dest [, scope]]).
func (s *state) regRegister(L *lua.LState) int {
	const fn = "process.registry.register"
	name := checkString(L, 1, fn, "name")
	scope := scopeLocal
	if v := L.Get(3); v != lua.LNil {
		str, ok := v.(lua.LString)
		if !ok || (str != scopeLocal && str != scopeConsistent) {
			argError(L, 3, fn, "scope", fmt.Sprintf("must be process.registry.LOCAL (%q) or process.registry.CONSISTENT (%q), got %s",
				scopeLocal, scopeConsistent, describe(v)))
		}
		scope = string(str)
	}
	var target pid.PID
	if L.Get(2) == lua.LNil {
		target = s.self(L, fn).PID()
	} else {
		var err error
		if target, err = s.checkDest(L, 2, fn); err != nil {
			return pushResult(L, err)
		}
	}
	if scope == scopeConsistent && s.rt.opts.ClusterNames != nil {
		return pushResult(L, s.registerConsistent(name, target))
	}
	return pushResult(L, s.registerLocal(name, target))
}

// registerLocal registers a node name (target is a full PID: the
// caller's, or resolved). A name held cluster-wide by another
// process is refused too: lookups would find that process first.
func (s *state) registerLocal(name string, target pid.PID) error {
	if cn := s.rt.opts.ClusterNames; cn != nil {
		if h, ok := cn.LookupName(name); ok && h != target {
			return &process.NameHeldError{Op: "register", Name: name, Holder: h}
		}
	}
	return s.rt.node.RegisterBy(s.selfPID(), name, target)
}

// registerConsistent registers name cluster-wide. The holder holds it on
// its node too, so the node's own rules (a name held or reserved by
// another process is refused) apply to cluster names as well, and the
// process counts as named (shared) here.
func (s *state) registerConsistent(name string, target pid.PID) error {
	node := s.rt.node
	had, _ := node.Lookup(name)
	if err := node.RegisterBy(s.selfPID(), name, target); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, clusterNameTimeout)
	defer cancel()
	err := s.rt.opts.ClusterNames.Register(ctx, name, target)
	if err != nil && had != target {
		_ = node.UnregisterBy(target, name) // back to how it was
	}
	return err
}

func (s *state) regLookup(L *lua.LState) int {
	name := checkString(L, 1, "process.registry.lookup", "name")
	p, err := pid.PID{}, error(nil)
	if name != "" && name[0] == '{' {
		err = process.ErrUnknownName // a PID is no name
	} else {
		p, err = s.rt.node.Resolve(name) // cluster names first, then the node's
	}
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString("process.registry.lookup: no process is registered as " + cutArg(name)))
		return 2
	}
	L.Push(lua.LString(p.String()))
	return 1
}

// regUnregister releases a name the calling process holds, cluster-wide
// or on this node (the one lookup finds); a name another process holds
// gives false and an error naming the holder.
func (s *state) regUnregister(L *lua.LState) int {
	name := checkString(L, 1, "process.registry.unregister", "name")
	by := s.selfPID()
	cn := s.rt.opts.ClusterNames
	if cn == nil {
		return pushResult(L, s.rt.node.UnregisterBy(by, name))
	}
	if _, ok := cn.LookupName(name); !ok {
		return pushResult(L, s.rt.node.UnregisterBy(by, name))
	}
	ctx, cancel := context.WithTimeout(s.ctx, clusterNameTimeout)
	defer cancel()
	if err := cn.UnregisterBy(ctx, by, name); err != nil {
		return pushResult(L, err)
	}
	// The holder held it on this node too (registerConsistent).
	if err := s.rt.node.UnregisterBy(by, name); err != nil && !errors.Is(err, process.ErrUnknownName) {
		return pushResult(L, err)
	}
	return pushResult(L, nil)
}
