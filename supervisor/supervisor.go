// Package supervisor runs an app's process.service entries: for each, a
// supervisor process that keeps a Lua process running under the entry's
// id, restarting it after failures with backoff (lifecycle.restart),
// starting it once the services it depends on run, and giving up after
// max_attempts failures in a row.
//
// A service of scope cluster runs one instance in the whole cluster:
// every node runs its supervisor, and the one that holds the service's
// claim, the name {service}<id> in the cluster-wide name table, runs the
// instance; the others stand by until the claim is released, then race
// to take it. A node cut off from NATS terminates its instance, since
// another node may start one. docs/config.md describes the entry.
package supervisor

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/process"
)

// Options configure New. Node and Lua are required; every other field
// has a default.
type Options struct {
	// Node runs the supervisors.
	Node *process.Node
	// Lua spawns the services' instances.
	Lua *luart.Runtime
	// Logger receives how services start, fail, restart and give up.
	// Default: discarded.
	Logger *slog.Logger
	// Names is the cluster-wide name table. A service of scope cluster
	// is supervised through it when it is a ClusterNames (cluster.Names
	// is); otherwise (nil: one node) it runs here as the single instance.
	Names process.NameLookup
	// Stopping ends when the app's shutdown cancels its processes: the
	// cluster services' supervisors end their NATS requests then, so
	// that they end within their grace however long JetStream takes to
	// answer. Default: never.
	Stopping context.Context
	// Grace returns the cancel_grace of a process host. Default:
	// process.DefaultCancelGrace for every host.
	Grace func(host string) time.Duration
}

// Supervisor holds an app's services: Add them, then Start.
type Supervisor struct {
	node     *process.Node
	lua      *luart.Runtime
	log      *slog.Logger
	names    process.NameLookup
	stopping context.Context
	graceOf  func(host string) time.Duration
	services []*service
}

// New returns a Supervisor with no services.
func New(o Options) *Supervisor {
	s := &Supervisor{node: o.Node, lua: o.Lua, log: o.Logger, names: o.Names, stopping: o.Stopping, graceOf: o.Grace}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.stopping == nil {
		s.stopping = context.Background()
	}
	return s
}

// grace returns the cancel_grace of the process host named host.
func (s *Supervisor) grace(host string) time.Duration {
	if s.graceOf == nil {
		return process.DefaultCancelGrace
	}
	return cmp.Or(s.graceOf(host), process.DefaultCancelGrace)
}

// Add adds the service of entry id, running prog with the entry's args.
// An argument that is not a value is an error naming it.
func (s *Supervisor) Add(id string, spec *config.ProcessService, prog *luart.Program) error {
	svc, err := newService(s, id, spec, prog)
	if err != nil {
		return err
	}
	s.services = append(s.services, svc)
	return nil
}

// Start starts the supervisor of every service whose lifecycle.auto_start
// is true, in the order they were added; each one's first instance waits
// for the services it depends on. It returns the first error; the
// supervisors started before it keep running (the node's shutdown ends
// them).
func (s *Supervisor) Start() error {
	linkDependencies(s.services)
	for _, svc := range s.services {
		if err := svc.start(); err != nil {
			return err
		}
	}
	return nil
}

// Await waits until each service among ids runs (an instance started, or,
// for a cluster service, its name is held somewhere in the cluster), for
// at most timeout in all. Ids that are not services are skipped. The
// error names the first service that did not run, and why.
func (s *Supervisor) Await(ids []string, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for _, svc := range s.services {
		if !slices.Contains(ids, svc.id) {
			continue
		}
		for {
			up, changed := svc.isUp()
			if up {
				break
			}
			select {
			case <-t.C:
				return fmt.Errorf("%s, which it depends on, is not running after %v (lifecycle.start_timeout)", svc.id, timeout)
			case <-svc.over:
				if up, _ := svc.isUp(); !up {
					return fmt.Errorf("%s, which it depends on, ended without ever running", svc.id)
				}
			case <-svc.up:
			case <-changed:
			}
		}
	}
	return nil
}
