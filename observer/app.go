package observer

import (
	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/wsrelay"
)

// OfApp is what the observer shows of a node that runs app: its
// processes, groups, counters and relay connections.
func OfApp(app *gateway.App) Local {
	var global func() []NameView
	if held, ok := app.ClusterNames().(interface {
		Held(max int) []cluster.NameHolder
	}); ok {
		global = func() []NameView {
			var out []NameView
			for _, h := range held.Held(MaxNamesShown) {
				out = append(out, NameView{Name: h.Name, PID: h.PID.String(), Scope: "cluster"})
			}
			return out
		}
	}
	lua := func(p pid.PID) (LuaUsage, bool) {
		u, ok := app.LuaUsage(p)
		return LuaUsage{Memory: u.Memory, MemoryLimit: u.MemoryLimit, Steps: u.Steps}, ok
	}
	return Local{Node: app.Node(), Global: global, Lua: lua, PG: app.Groups(), Counters: app.Counters,
		Conns: func(yield func(ConnInfo) bool) {
			app.EachConnection(func(c wsrelay.ConnInfo) bool {
				return yield(ConnInfo{PID: c.PID, Route: c.Route, Remote: c.Remote, Origin: c.Origin, Path: c.Path,
					Target: c.Target, State: c.State, Opened: c.Opened, LastRead: c.LastRead, FramesIn: c.FramesIn, FramesOut: c.FramesOut,
					BytesIn: c.BytesIn, BytesOut: c.BytesOut})
			})
		},
		Tracer: func(client pid.PID, since uint64, payloads bool) (TraceView, bool) {
			r, ok, err := app.Trace(client, since, payloads)
			if !ok {
				return TraceView{}, false
			}
			v := TraceView{PID: client.String(), Dropped: r.Dropped, Ended: r.Ended, Events: []TraceEvent{}}
			if err != nil {
				v.Error = err.Error()
			}
			for _, e := range r.Events {
				v.Events = append(v.Events, TraceEvent{Seq: e.Seq, Time: e.Time, Kind: e.Kind, Type: e.Type, Size: e.Size, Payload: e.Payload, Detail: e.Detail})
			}
			return v, true
		}}
}

// MaxNamesShown bounds the cluster-wide names a names view lists.
const MaxNamesShown = 10000
