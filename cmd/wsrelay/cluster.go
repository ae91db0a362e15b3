package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/wsrelay/wsrelay/cluster"
	"github.com/wsrelay/wsrelay/gateway"
	"github.com/wsrelay/wsrelay/process"
)

// clusterFlags are run's flags for joining a cluster (docs/cluster.md).
type clusterFlags struct {
	url, creds, listen, store *string
}

func addClusterFlags(fs *flag.FlagSet) *clusterFlags {
	return &clusterFlags{
		url: fs.String("cluster", os.Getenv("WSRELAY_CLUSTER"),
			"join a cluster through the NATS at this URL: nats://[user:password@]HOST:PORT[,...], tls:// for TLS (env WSRELAY_CLUSTER); --node names this node (env WSRELAY_NODE)"),
		creds:  fs.String("nats-creds", "", "NATS credentials file (.creds) used with --cluster"),
		listen: fs.String("nats-listen", "", "also run an embedded NATS server (JetStream on) at this address, which other nodes join with --cluster nats://ADDR"),
		store:  fs.String("nats-store", "", "JetStream store directory of the embedded NATS (default: a temporary directory, removed at exit)"),
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
}

// connect starts the embedded NATS (--nats-listen) and connects to NATS.
// It returns nil when neither --cluster nor --nats-listen is given. A
// clustered node needs a name of its own: WSRELAY_NODE gives it when
// --node does not.
func (f *clusterFlags) connect(fs *flag.FlagSet, node *string, log *slog.Logger) (cn *clusterNode, err error) {
	if *f.url == "" && *f.listen == "" {
		if *f.creds != "" || *f.store != "" {
			return nil, errors.New("--nats-creds and --nats-store need --cluster or --nats-listen")
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
	cn = &clusterNode{}
	defer func() {
		if err != nil {
			cn.close()
			cn = nil
		}
	}()
	url := *f.url
	if *f.listen != "" {
		if *f.url != "" {
			return cn, errors.New("give --nats-listen or --cluster, not both: the other nodes join the embedded NATS")
		}
		if url, err = cn.serve(*f.listen, *f.store, log); err != nil {
			return cn, err
		}
	}
	opts := []nats.Option{nats.Name("wsrelay " + *node), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	if *f.creds != "" {
		opts = append(opts, nats.UserCredentials(*f.creds))
	}
	if cn.nc, err = nats.Connect(url, opts...); err != nil {
		return cn, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	if cn.tr, err = cluster.New(cn.nc, &cluster.Options{Logger: log}); err != nil {
		return cn, err
	}
	cn.names = cluster.NewNames(cn.tr)
	return cn, nil
}

// serve runs the embedded NATS server at addr.
func (cn *clusterNode) serve(addr, store string, log *slog.Logger) (string, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--nats-listen %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", fmt.Errorf("--nats-listen %q: bad port", addr)
	}
	if store == "" {
		if cn.tmp, err = os.MkdirTemp("", "wsrelay-nats-"); err != nil {
			return "", err
		}
		store = cn.tmp
	}
	if port == 0 {
		port = -1 // any free port
	}
	if cn.srv, err = server.NewServer(&server.Options{Host: host, Port: port, JetStream: true, StoreDir: store, NoSigs: true, NoLog: true}); err != nil {
		return "", fmt.Errorf("embedded NATS: %w", err)
	}
	go cn.srv.Start()
	if !cn.srv.ReadyForConnections(10 * time.Second) {
		return "", fmt.Errorf("embedded NATS did not start at %s", addr)
	}
	log.Info("embedded NATS listening", "url", cn.srv.ClientURL(), "store", store)
	return cn.srv.ClientURL(), nil
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
func (cn *clusterNode) join(ctx context.Context, n *process.Node, log *slog.Logger) error {
	if cn == nil {
		return nil
	}
	if err := cn.tr.Start(n); err != nil {
		return err
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cn.names.Start(sctx); err != nil {
		log.Warn("cluster-wide names unavailable; local names only", "error", err)
		return nil
	}
	log.Info("cluster-wide names ready")
	return nil
}

// close leaves the cluster and stops the embedded NATS. The app's node
// has been shut down first.
func (cn *clusterNode) close() {
	if cn == nil {
		return
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
