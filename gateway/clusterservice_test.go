package gateway_test

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/internal/apptest"
	"github.com/wsrelay/wsrelay/internal/clustertest"
	"github.com/wsrelay/wsrelay/internal/natstest"
	"github.com/wsrelay/wsrelay/internal/netcut"
	"github.com/wsrelay/wsrelay/internal/poll"
	"github.com/wsrelay/wsrelay/internal/proctest"
	"github.com/wsrelay/wsrelay/internal/testlog"
	"github.com/wsrelay/wsrelay/pid"
	"github.com/wsrelay/wsrelay/process"
	"github.com/wsrelay/wsrelay/value"
)

const singleton = "app:singleton"

// hbTimeout is the test cluster's heartbeat timeout: a lost node is
// noticed about this long after its last heartbeat.
const hbTimeout = time.Second

// clusterApp is testdata/clusterapp running on one node of a test
// cluster, with a probe registered as "probe" that records the instances
// of the singleton service that started on this node.
type clusterApp struct {
	name  string
	app   *gateway.App
	nc    *nats.Conn
	tr    *cluster.Transport
	names *cluster.Names
	logs  *testlog.Buffer
	probe *proctest.Probe
	once  sync.Once

	mu  sync.Mutex
	ups []pid.PID
}

// startClusterApp joins a node named name to the cluster through the NATS
// at url, with the given heartbeat timeout (interval: a twentieth of it,
// at most 50 ms).
func startClusterApp(t *testing.T, url, name string, hb time.Duration) *clusterApp {
	t.Helper()
	cfg, err := config.LoadDir("testdata/clusterapp", config.StandardKinds())
	if err != nil {
		t.Fatal(err)
	}
	logs, log := testlog.New(slog.LevelInfo)
	m := clustertest.Join(t, url, name, &cluster.Options{HeartbeatInterval: min(hb/20, 50*time.Millisecond), HeartbeatTimeout: hb, Logger: log})
	app, err := gateway.Build(cfg, gateway.Options{Logger: log, NodeName: name, Transport: m.Transport, ClusterNames: m.Names})
	if err != nil {
		t.Fatal(err)
	}
	ca := &clusterApp{name: name, app: app, nc: m.Conn, tr: m.Transport, names: m.Names, logs: logs}
	t.Cleanup(func() {
		ca.stop(t)
		if t.Failed() {
			t.Logf("node %s's log:\n%s", name, logs.String())
		}
	})
	m.Start(t, app.Node(), true)
	ca.probe = proctest.Spawn(t, app.Node(), "app:probes", func(_ *process.Process, m process.Message) {
		if m.Topic == "up" {
			ca.mu.Lock()
			ca.ups = append(ca.ups, m.From)
			ca.mu.Unlock()
		}
	})
	if err := app.Node().Register("probe", ca.probe.PID); err != nil {
		t.Fatal(err)
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	return ca
}

// stop shuts the app down and leaves the cluster (once).
func (ca *clusterApp) stop(t *testing.T) {
	ca.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		if err := ca.app.Shutdown(ctx); err != nil {
			t.Errorf("node %s: %v", ca.name, err)
		}
		ca.names.Close()
		_ = ca.tr.Close()
		ca.nc.Close()
	})
}

// kill stops the node abruptly: its NATS connection closes without a
// goodbye (the others notice only when its heartbeats stop), and its
// processes end.
func (ca *clusterApp) kill(t *testing.T) {
	ca.nc.Close()
	ca.stop(t)
}

// running returns the instances of the service alive on this node.
func (ca *clusterApp) running() []pid.PID {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	var live []pid.PID
	for _, p := range ca.ups {
		if ca.app.Node().Alive(p) {
			live = append(live, p)
		}
	}
	return live
}

// started returns how many instances ever started on this node.
func (ca *clusterApp) started() int {
	ca.mu.Lock()
	defer ca.mu.Unlock()
	return len(ca.ups)
}

// instances returns the instances alive across the nodes.
func instances(nodes []*clusterApp) []pid.PID {
	var all []pid.PID
	for _, n := range nodes {
		all = append(all, n.running()...)
	}
	return all
}

// sampler counts the live instances across the nodes every millisecond
// until stopped, and keeps the most seen at once.
type sampler struct {
	stop chan struct{}
	done chan struct{}
	max  int
	n    int
}

func sample(nodes []*clusterApp) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			s.max = max(s.max, len(instances(nodes)))
			s.n++
			select {
			case <-s.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

// end stops sampling; it returns the most instances seen at once and the
// number of samples.
func (s *sampler) end() (most, samples int) {
	close(s.stop)
	<-s.done
	return s.max, s.n
}

// TestClusterServiceOneInstance: three nodes run the same app, whose
// service has scope cluster. Exactly one instance runs in the cluster
// (counted on every node), and its name resolves to it from every node.
// When the node that runs it is killed, exactly one new instance starts on
// another node once the loss is noticed, its name resolves to the new
// instance from every node, and at no sampled moment do two instances
// run.
func TestClusterServiceOneInstance(t *testing.T) {
	s := natstest.StartJetStream(t)
	nodes := startClusterApps(t, s, hbTimeout, "a", "b", "c")
	smp := sample(nodes)

	first := oneInstance(t, nodes, "one instance runs")
	expectResolves(t, nodes, first)
	// Counted as processes on each node's host: a supervisor on every
	// node, the instance on one.
	total := 0
	for _, n := range nodes {
		h, _ := n.app.Node().Host("app:services")
		total += h.Stats().Live
	}
	if total != len(nodes)+1 {
		t.Fatalf("%d processes on the service hosts of %d nodes, want a supervisor each and one instance", total, len(nodes))
	}

	victim, rest := others(nodes, first.Node)
	killed := time.Now()
	victim.kill(t)
	second := oneInstance(t, rest, "a new instance on another node")
	took := time.Since(killed)
	t.Logf("node %s killed; instance started again on %s after %v (heartbeat timeout %v)", victim.name, second.Node, took, hbTimeout)
	expectResolves(t, rest, second)

	// No second instance starts late: give the standby node time to see
	// the claim change, then count what ever started.
	poll.Until(t, timeout, "the standby node sees the new holder", func() bool {
		for _, n := range rest {
			if !strings.Contains(n.logs.String(), "this node runs the cluster's instance") &&
				strings.Count(n.logs.String(), "service stands by") < 2 {
				return false
			}
		}
		return true
	})
	startedAll := 0
	for _, n := range nodes {
		startedAll += n.started()
	}
	most, samples := smp.end()
	if most > 1 || startedAll != 2 {
		t.Fatalf("at most %d instances at once over %d samples, %d started in all; want at most 1 at once and 2 in all", most, samples, startedAll)
	}
	if live := instances(rest); len(live) != 1 || live[0] != second {
		t.Fatalf("instances now %v, want only %v", live, second)
	}
}

// startClusterApps starts one node per name and waits until each sees
// the others up.
func startClusterApps(t *testing.T, s *server.Server, hb time.Duration, names ...string) []*clusterApp {
	t.Helper()
	var nodes []*clusterApp
	for _, name := range names {
		nodes = append(nodes, startClusterApp(t, s.ClientURL(), name, hb))
	}
	// A name can resolve to a node before that node's first heartbeat has
	// come: a send to it then fails (node down or unknown).
	poll.Until(t, timeout, "every node sees the others", func() bool {
		for _, n := range nodes {
			if len(n.tr.Peers()) != len(nodes)-1 {
				return false
			}
		}
		return true
	})
	return nodes
}

// oneInstance waits until exactly one instance runs on the nodes and
// returns it.
func oneInstance(t *testing.T, nodes []*clusterApp, what string) pid.PID {
	t.Helper()
	var one pid.PID
	poll.Until(t, timeout, what, func() bool {
		live := instances(nodes)
		if len(live) == 1 {
			one = live[0]
		}
		return len(live) == 1
	})
	return one
}

// others returns the nodes other than the one named name.
func others(nodes []*clusterApp, name string) (that *clusterApp, rest []*clusterApp) {
	for _, n := range nodes {
		if n.name == name {
			that = n
		} else {
			rest = append(rest, n)
		}
	}
	return that, rest
}

// TestClusterServiceHandover: a node that stops cleanly hands its cluster
// service over at once. The heartbeat timeout is an hour, so the release
// of the claim, not the loss of the node, makes another node take over.
func TestClusterServiceHandover(t *testing.T) {
	s := natstest.StartJetStream(t)
	nodes := startClusterApps(t, s, time.Hour, "a", "b", "c")
	smp := sample(nodes)
	first := oneInstance(t, nodes, "one instance runs")
	holder, rest := others(nodes, first.Node)
	holder.stop(t)
	second := oneInstance(t, rest, "a new instance on another node")
	expectResolves(t, rest, second)
	if most, samples := smp.end(); most > 1 {
		t.Fatalf("%d instances at once over %d samples", most, samples)
	}
}

// TestClusterServiceRestartsInPlace: a cluster service that fails is
// restarted on the node that holds it, under its restart policy, and the
// others keep standing by.
func TestClusterServiceRestartsInPlace(t *testing.T) {
	s := natstest.StartJetStream(t)
	nodes := startClusterApps(t, s, hbTimeout, "a", "b")
	smp := sample(nodes)
	first := oneInstance(t, nodes, "one instance runs")
	holder, rest := others(nodes, first.Node)
	// Sent from the other node, by name: the name resolves there too.
	expectResolves(t, rest, first)
	if err := rest[0].app.Node().SendDest(pid.PID{}, singleton, "crash", value.Nil()); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "the instance restarted on its node", func() bool {
		live := holder.running()
		return len(live) == 1 && live[0] != first
	})
	second := holder.running()[0]
	expectResolves(t, nodes, second)
	if most, samples := smp.end(); most > 1 {
		t.Fatalf("%d instances at once over %d samples", most, samples)
	}
	if n := rest[0].started(); n != 0 {
		t.Fatalf("%d instances started on the standby node", n)
	}
	if !strings.Contains(holder.logs.String(), "service failed; restarting") {
		t.Fatalf("no restart logged:\n%s", holder.logs.String())
	}
}

// TestClusterServiceClaimLost: when the cluster releases the claim of the
// node that runs the service (as the others do when they lose sight of a
// node that is only cut off), that node stops its instance, and the
// instance that follows starts only once the old one has ended.
func TestClusterServiceClaimLost(t *testing.T) {
	s := natstest.StartJetStream(t)
	nodes := startClusterApps(t, s, hbTimeout, "a", "b")
	smp := sample(nodes)
	first := oneInstance(t, nodes, "one instance runs")
	holder, rest := others(nodes, first.Node)
	claim := "{service}" + singleton
	supervisor, ok := rest[0].names.LookupName(claim)
	if !ok || supervisor.Node != holder.name {
		t.Fatalf("claim held by %v (%v)", supervisor, ok)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if !rest[0].names.Release(ctx, claim, supervisor) {
		t.Fatal("the claim was not released")
	}
	poll.Until(t, timeout, "the old instance stopped (and said so) and a new one runs", func() bool {
		live := instances(nodes)
		return !holder.app.Node().Alive(first) && len(live) == 1 &&
			strings.Contains(holder.logs.String(), "the instance here was stopped")
	})
	if most, samples := smp.end(); most > 1 {
		t.Fatalf("%d instances at once over %d samples", most, samples)
	}
}

// TestClusterServicePartition: the node that runs the service is cut off
// from NATS but keeps running. Half a heartbeat timeout into the cut it
// terminates its instance (the fence), before the other node, having lost
// sight of it a full timeout after its last heartbeat, starts one of its
// own: at no sampled moment do two run. Once the cut heals, the cut-off
// node stands by, and the name resolves to the new instance on both.
func TestClusterServicePartition(t *testing.T) {
	a := partition(t, "cut", (*netcut.Proxy).SetCut)
	if !strings.Contains(a.logs.String(), "cut off from NATS") {
		t.Fatalf("a's log:\n%s", a.logs.String())
	}
}

// TestClusterServiceHang: the same, with a connection that hangs (open,
// carrying nothing: the NATS client would notice only minutes later, when
// its pings go unanswered). The node stops hearing its own heartbeat and
// terminates its instance before the other node takes it for lost and
// starts one.
func TestClusterServiceHang(t *testing.T) { partition(t, "hang", (*netcut.Proxy).SetHang) }

// partition runs the service on a, whose connection to NATS then breaks
// (cut: true) until b has started an instance of its own, and checks that
// no two instances ever ran and that a stands by once it is back. It
// returns a.
func partition(t *testing.T, how string, cut func(*netcut.Proxy, bool)) *clusterApp {
	s := natstest.StartJetStream(t)
	px := netcut.Start(t, s.Addr().String())
	a := startClusterApp(t, "nats://"+px.Addr(), "a", hbTimeout)
	first := oneInstance(t, []*clusterApp{a}, "the instance runs on a")
	b := startClusterApp(t, s.ClientURL(), "b", hbTimeout)
	nodes := []*clusterApp{a, b}
	expectResolves(t, nodes, first)
	smp := sample(nodes)

	start := time.Now()
	cut(px, true)
	poll.Until(t, timeout, "a fences its instance", func() bool { return !a.app.Node().Alive(first) })
	fenced := time.Since(start)
	second := oneInstance(t, []*clusterApp{b}, "b starts an instance")
	t.Logf("%s: a terminated its instance after %v, b started one after %v (heartbeat timeout %v)", how, fenced, time.Since(start), hbTimeout)
	cut(px, false)
	poll.Until(t, timeout, "a stands by once it is back", func() bool {
		return strings.Contains(a.logs.String(), "service stands by: another node runs it")
	})
	expectResolves(t, nodes, second)
	if most, samples := smp.end(); most > 1 {
		t.Fatalf("%d instances at once over %d samples", most, samples)
	}
	if live := instances(nodes); len(live) != 1 || live[0] != second {
		t.Fatalf("instances %v, want only %v", live, second)
	}
	return a
}

// TestClusterServiceFenceAlone: a cluster of one node that loses NATS
// for a while terminates its instance (it cannot tell whether others took
// over) and, once NATS is back and the claim still its own, starts it
// again.
func TestClusterServiceFenceAlone(t *testing.T) {
	s := natstest.StartJetStream(t)
	px := netcut.Start(t, s.Addr().String())
	a := startClusterApp(t, "nats://"+px.Addr(), "a", hbTimeout)
	first := oneInstance(t, []*clusterApp{a}, "the instance runs")
	px.SetCut(true)
	poll.Until(t, timeout, "the instance fenced", func() bool { return !a.app.Node().Alive(first) })
	px.SetCut(false)
	second := oneInstance(t, []*clusterApp{a}, "the instance started again")
	if second == first {
		t.Fatal("the same instance")
	}
	expectResolves(t, []*clusterApp{a}, second)
}

// TestClusterServiceWithoutJetStream: in a cluster whose NATS has no
// JetStream there are no cluster-wide names, so no node can claim the
// service: it logs an error and runs no instance rather than one per
// node.
func TestClusterServiceWithoutJetStream(t *testing.T) {
	s := natstest.Start(t, false)
	cfg, err := config.LoadDir("testdata/clusterapp", config.StandardKinds())
	if err != nil {
		t.Fatal(err)
	}
	m := clustertest.Join(t, s.ClientURL(), "a", &cluster.Options{})
	logs, log := testlog.New(slog.LevelInfo)
	app, err := gateway.Build(cfg, gateway.Options{Logger: log, NodeName: "a", Transport: m.Transport, ClusterNames: m.Names})
	if err != nil {
		t.Fatal(err)
	}
	ca := &clusterApp{name: "a", app: app, nc: m.Conn, tr: m.Transport, names: m.Names, logs: logs}
	t.Cleanup(func() { ca.stop(t) })
	m.Start(t, app.Node(), false)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := m.Names.Start(ctx); err == nil {
		t.Fatal("cluster-wide names started without JetStream")
	}
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, timeout, "the error logged", func() bool {
		return strings.Contains(logs.String(), "service cannot be claimed cluster-wide")
	})
	if h, _ := app.Node().Host("app:services"); h.Stats().Live != 1 {
		t.Fatalf("%d processes on the service host, want the supervisor alone", h.Stats().Live)
	}
}

// TestClusterServiceWithoutCluster: on a node that is not in a cluster, a
// service with scope cluster runs as the single instance, and the log
// says so.
func TestClusterServiceWithoutCluster(t *testing.T) {
	var probe *proctest.Probe
	app, logs := apptest.StartWith(t, "testdata/clusterapp", gateway.Options{}, func(app *gateway.App) {
		probe = proctest.Spawn(t, app.Node(), "app:probes", nil)
		if err := app.Node().Register("probe", probe.PID); err != nil {
			t.Fatal(err)
		}
	})
	select {
	case m := <-probe.Msgs:
		if got, err := app.Node().Resolve(singleton); m.Topic != "up" || err != nil || got != m.From {
			t.Fatalf("probe got %s from %v; the name resolves to %v (%v)", m.Topic, m.From, got, err)
		}
	case <-time.After(timeout):
		t.Fatal("the service did not start")
	}
	if !strings.Contains(logs.String(), "not in a cluster: it runs here as the single instance") {
		t.Fatalf("log:\n%s", logs.String())
	}
}

// expectResolves waits until the service's name resolves to want on every
// node.
func expectResolves(t *testing.T, nodes []*clusterApp, want pid.PID) {
	t.Helper()
	poll.Until(t, timeout, "the name resolves to "+want.String()+" on every node", func() bool {
		for _, n := range nodes {
			got, err := n.app.Node().Resolve(singleton)
			if err != nil || got != want {
				return false
			}
		}
		return true
	})
}

// TestClusterServiceStopsWhileJetStreamHangs: the node that runs a
// cluster service shuts down while JetStream does not answer (here its
// connection hangs; a NATS cluster that lost its majority answers no
// JetStream request either). Its supervisor gives up releasing the
// service's name and claim (the other nodes release them when they lose
// the node) and ends by itself: the shutdown is clean. The hang comes
// while the instance registers its name, or once it has.
func TestClusterServiceStopsWhileJetStreamHangs(t *testing.T) {
	t.Run("registering", func(t *testing.T) { stopWhileJetStreamHangs(t, false) })
	t.Run("registered", func(t *testing.T) { stopWhileJetStreamHangs(t, true) })
}

func stopWhileJetStreamHangs(t *testing.T, registered bool) {
	s := natstest.StartJetStream(t)
	px := netcut.Start(t, s.Addr().String())
	a := startClusterApp(t, "nats://"+px.Addr(), "a", hbTimeout)
	first := oneInstance(t, []*clusterApp{a}, "the instance runs on a")
	if registered {
		expectResolves(t, []*clusterApp{a}, first)
	}
	px.SetHang(true)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err := a.app.Shutdown(ctx)
	px.SetHang(false)
	if err != nil {
		t.Fatalf("shutdown: %v", err)
	}
}

// TestDependsOnClusterService: a local service that depends on a service
// of scope cluster starts on every node once the cluster's instance runs,
// also on a node that only stands by for it.
func TestDependsOnClusterService(t *testing.T) {
	s := natstest.StartJetStream(t)
	start := func(name string) *testlog.Buffer {
		cfg, err := config.Load(fstest.MapFS{"_index.yaml": {Data: []byte(`version: "1.0"
namespace: app
entries:
  - {name: services, kind: process.host}
  - {name: idle, kind: process.lua, source: file://idle.lua, method: main}
  - {name: singleton, kind: process.service, process: idle, host: services, scope: cluster}
  - {name: follower, kind: process.service, process: idle, host: services, lifecycle: {depends_on: [singleton], start_timeout: 1h}}
`)}, "idle.lua": {Data: []byte(`return {main = function() process.inbox():receive() end}`)}}, config.StandardKinds())
		if err != nil {
			t.Fatal(err)
		}
		logs, log := testlog.New(slog.LevelInfo)
		m := clustertest.Join(t, s.ClientURL(), name, &cluster.Options{HeartbeatInterval: 50 * time.Millisecond, HeartbeatTimeout: hbTimeout, Logger: log})
		app, err := gateway.Build(cfg, gateway.Options{Logger: log, NodeName: name, Transport: m.Transport, ClusterNames: m.Names})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			app.Shutdown(ctx)
			m.Names.Close()
			m.Transport.Close()
			m.Conn.Close()
			if t.Failed() {
				t.Logf("node %s's log:\n%s", name, logs)
			}
		})
		m.Start(t, app.Node(), true)
		if err := app.Start(); err != nil {
			t.Fatal(err)
		}
		return logs
	}
	a := start("a")
	poll.Until(t, timeout, "node a to run the singleton and its follower", func() bool {
		return strings.Contains(a.String(), `msg="service started" service=app:singleton`) && strings.Contains(a.String(), `msg="service started" service=app:follower`)
	})
	b := start("b")
	poll.Until(t, timeout, "node b to start its follower of a's singleton", func() bool {
		return strings.Contains(b.String(), `msg="service started" service=app:follower`)
	})
	if strings.Contains(b.String(), `msg="service started" service=app:singleton`) {
		t.Errorf("node b runs the singleton too:\n%s", b)
	}
}
