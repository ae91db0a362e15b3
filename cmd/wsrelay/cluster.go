package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/process"
)

// clusterFlags are run's flags for joining a cluster (docs/cluster.md).
// Each has an environment variable, read when the flag is not given.
type clusterFlags struct {
	url, creds, listen, store, routes, routeListen, secretFile *string
}

func addClusterFlags(fs *flag.FlagSet) *clusterFlags {
	return &clusterFlags{
		url: fs.String("cluster", os.Getenv("WSRELAY_CLUSTER"),
			"join a cluster through the NATS at this URL: nats://[user:password@]HOST:PORT[,...], tls:// for TLS (env WSRELAY_CLUSTER); --node names this node (env WSRELAY_NODE)"),
		creds: fs.String("nats-creds", os.Getenv("WSRELAY_NATS_CREDS"), "NATS credentials file (.creds) used with --cluster (env WSRELAY_NATS_CREDS)"),
		listen: fs.String("nats-listen", os.Getenv("WSRELAY_NATS_LISTEN"),
			"run an embedded NATS server (JetStream on) at this address and join the cluster through it; needs the cluster secret (env WSRELAY_NATS_LISTEN)"),
		store: fs.String("nats-store", os.Getenv("WSRELAY_NATS_STORE"),
			"JetStream store directory of the embedded NATS (default: a temporary directory, removed at exit) (env WSRELAY_NATS_STORE)"),
		routes: fs.String("nats-routes", os.Getenv("WSRELAY_NATS_ROUTES"),
			"route the embedded NATS to the other nodes' embedded servers: nats://HOST:PORT[,...], every node's --nats-cluster-listen address, this node's included (env WSRELAY_NATS_ROUTES)"),
		routeListen: fs.String("nats-cluster-listen", os.Getenv("WSRELAY_NATS_CLUSTER_LISTEN"),
			"the embedded NATS listens here for the other embedded servers' routes; goes with --nats-routes (env WSRELAY_NATS_CLUSTER_LISTEN)"),
		secretFile: fs.String("cluster-secret-file", os.Getenv("WSRELAY_CLUSTER_SECRET_FILE"),
			"file holding the cluster secret, which embedded NATS servers require of nodes and routes (env WSRELAY_CLUSTER_SECRET_FILE, or the secret itself in WSRELAY_CLUSTER_SECRET)"),
	}
}

// clusterNode is what a clustered run holds; nil when not clustered (its
// methods then do nothing).
type clusterNode struct {
	srv   *server.Server
	tmp   string
	nc    *nats.Conn
	tr    *cluster.Transport
	names *cluster.Names
	// servers is the number of embedded servers routed together (0: no
	// embedded server, or one alone): the names wait for their
	// JetStream's majority instead of giving up.
	servers int
	stop    chan struct{} // closed by close: ends watchCurrent
	wg      sync.WaitGroup
}

// connect starts the embedded NATS (--nats-listen) and connects to NATS.
// It returns nil when neither --cluster nor --nats-listen is given. A
// clustered node needs a name of its own: WSRELAY_NODE gives it when
// --node does not.
func (f *clusterFlags) connect(fs *flag.FlagSet, node *string, log *slog.Logger) (cn *clusterNode, err error) {
	if *f.url == "" && *f.listen == "" {
		if *f.creds != "" || *f.store != "" || *f.routes != "" || *f.routeListen != "" {
			return nil, errors.New("--nats-creds, --nats-store, --nats-routes and --nats-cluster-listen need --cluster or --nats-listen")
		}
		return nil, nil
	}
	nodeSet := false
	fs.Visit(func(fl *flag.Flag) { nodeSet = nodeSet || fl.Name == "node" })
	if env := os.Getenv("WSRELAY_NODE"); !nodeSet && env != "" {
		*node = env
	}
	if *node == "local" || *node == "" {
		return nil, errors.New("a node of a cluster needs a name of its own: --node NAME (or WSRELAY_NODE)")
	}
	secret, err := f.secret()
	if err != nil {
		return nil, err
	}
	cn = &clusterNode{}
	defer func() {
		if err != nil {
			cn.close()
			cn = nil
		}
	}()
	opts := append([]nats.Option{nats.Name("wsrelay " + *node), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)},
		clientLogOptions(log)...)
	url := *f.url
	if *f.listen != "" {
		if *f.url != "" || *f.creds != "" {
			return cn, errors.New("give --nats-listen or --cluster (with --nats-creds), not both: a node with an embedded NATS joins the cluster through it")
		}
		if secret == "" {
			return cn, errNoSecret
		}
		e := embedded{node: *node, listen: *f.listen, store: *f.store, routes: *f.routes, routeListen: *f.routeListen, secret: secret}
		if url, err = cn.serve(e, log); err != nil {
			return cn, err
		}
	} else if *f.routes != "" || *f.routeListen != "" || *f.store != "" {
		return cn, errors.New("--nats-store, --nats-routes and --nats-cluster-listen configure the embedded NATS: they need --nats-listen")
	}
	switch {
	case *f.creds != "":
		opts = append(opts, nats.UserCredentials(*f.creds))
	case secret != "":
		// A URL's own user and password win over these in nats.go.
		opts = append(opts, nats.UserInfo(nodeUser, secret))
	}
	if cn.nc, err = nats.Connect(url, opts...); err != nil {
		return cn, fmt.Errorf("connect to NATS at %s: %w", redact(url), err)
	}
	replicas := 1
	if cn.servers >= 3 {
		replicas = 3
	}
	if cn.tr, err = cluster.New(cn.nc, &cluster.Options{Logger: log, NamesReplicas: replicas}); err != nil {
		return cn, err
	}
	cn.names = cluster.NewNames(cn.tr)
	return cn, nil
}

// wire gives the app's node the transport and the cluster names.
func (cn *clusterNode) wire(o *gateway.Options) {
	if cn == nil {
		return
	}
	o.Transport, o.ClusterNames = cn.tr, cn.names
}

// join starts the transport with the app's node, then the cluster names
// (which need JetStream: without it the node runs with local names only).
// Routed embedded servers have JetStream once a majority of them is up,
// and the names' bucket of three replicas needs three servers the first
// time it is made: join waits for them, until ctx ends.
func (cn *clusterNode) join(ctx context.Context, n *process.Node, log *slog.Logger) error {
	if cn == nil {
		return nil
	}
	if err := cn.tr.Start(n); err != nil {
		return err
	}
	if cn.servers == 0 {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := cn.names.Start(sctx); err != nil {
			log.Warn("cluster-wide names unavailable; local names only", "error", err)
			return nil
		}
		log.Info("cluster-wide names ready")
		return nil
	}
	var told time.Time
	for {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := cn.names.Start(sctx)
		cancel()
		if err == nil {
			log.Info("cluster-wide names ready")
			cn.stop = make(chan struct{})
			cn.wg.Add(1)
			go cn.watchCurrent(log)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Since(told) >= 30*time.Second {
			log.Info("waiting for the embedded NATS servers: JetStream needs a majority of them up, and three the first time the names are made (three copies)",
				"servers", cn.servers, "error", err)
			told = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// watchCurrent logs once when the embedded server holds an up-to-date
// copy of every JetStream stream placed on it (the names' bucket): from
// then on, the cluster can lose another node and keep its names. A server
// that restarts catches up from the others in seconds.
func (cn *clusterNode) watchCurrent(log *slog.Logger) {
	defer cn.wg.Done()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		if h := cn.srv.Healthz(nil); h != nil && h.Status == "ok" {
			log.Info("embedded NATS is current with the cluster: another node may stop now")
			return
		}
		select {
		case <-cn.stop:
			return
		case <-tick.C:
		}
	}
}

// close leaves the cluster and stops the embedded NATS. The app's node
// has been shut down first.
func (cn *clusterNode) close() {
	if cn == nil {
		return
	}
	if cn.stop != nil {
		close(cn.stop)
		cn.wg.Wait()
	}
	if cn.names != nil {
		cn.names.Close()
	}
	if cn.tr != nil {
		_ = cn.tr.Close()
	}
	if cn.nc != nil {
		cn.nc.Close()
	}
	if cn.srv != nil {
		cn.srv.Shutdown()
		cn.srv.WaitForShutdown()
	}
	if cn.tmp != "" {
		_ = os.RemoveAll(cn.tmp)
	}
}
