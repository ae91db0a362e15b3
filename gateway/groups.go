package gateway

import (
	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/pg"
	"github.com/wsrelay/wsrelay/process"
)

// groupCarrier is a transport that carries the process groups between
// nodes: cluster.Transport.
type groupCarrier interface {
	pg.Carrier
	SetGroups(h cluster.GroupHandler)
}

// newGroups makes the node's process groups when the app has pg.scope
// entries (nil otherwise), over the cluster's transport when there is one.
func newGroups(cfg *config.App, node *process.Node, opts Options) (*pg.Service, error) {
	has := false
	for _, e := range cfg.Entries {
		if e.Kind == config.KindPGScope {
			has = true
			break
		}
	}
	if !has {
		return nil, nil
	}
	po := pg.Options{Node: node, Logger: opts.Logger}
	c, ok := opts.Transport.(groupCarrier)
	if ok {
		po.Carrier = c
	}
	svc, err := pg.New(po)
	if err != nil {
		return nil, err
	}
	if ok {
		c.SetGroups(svc)
	}
	return svc, nil
}

// buildScope adds a pg.scope entry's scope.
func (b *builder) buildScope(e *config.Entry, s *config.PGScope) {
	if !s.Lifecycle.Started() || b.app.groups == nil {
		return // lifecycle.auto_start: false: checked, not created
	}
	_, err := b.app.groups.AddScope(e.ID, pg.ScopeOptions{MaxGroups: s.MaxGroups, MaxMembersPerGroup: s.MaxMembersPerGroup,
		MaxMembers: s.MaxMembers, MaxSubscriptions: s.MaxSubscriptions, MonitorBuffer: s.MonitorBuffer, MonitorBufferBytes: int(s.MaxBufferBytes)})
	if err != nil {
		b.fail(e.Problem("", "%v", err))
	}
}
