package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"golang.org/x/crypto/bcrypt"

	"github.com/wsrelay/wsrelay/cluster"
)

// The users of the embedded NATS servers: nodes connect as nodeUser,
// servers route to each other as routeUser, both with the cluster secret.
const (
	nodeUser  = "wsrelay"
	routeUser = "wsrelay-route"
)

// minSecret is the shortest cluster secret accepted, in bytes.
const minSecret = 16

// errNoSecret: an embedded NATS server without credentials would take
// any local process for a node, and one forged heartbeat or batch can
// make nodes drop each other's relations or run a cluster service twice.
var errNoSecret = errors.New("--nats-listen needs a cluster secret, which the embedded NATS requires of every node and route: " +
	"make one (head -c 32 /dev/urandom | base64 > FILE) and give every node --cluster-secret-file FILE (or WSRELAY_CLUSTER_SECRET_FILE=FILE, or the secret itself in WSRELAY_CLUSTER_SECRET)")

// secret returns the cluster secret from --cluster-secret-file or
// WSRELAY_CLUSTER_SECRET ("" when neither is set). Surrounding white
// space, such as the file's last newline, is not part of it.
func (f *clusterFlags) secret() (string, error) {
	env := os.Getenv("WSRELAY_CLUSTER_SECRET")
	if *f.secretFile == "" {
		if env == "" {
			return "", nil
		}
		return checkSecret(env, "WSRELAY_CLUSTER_SECRET")
	}
	if env != "" {
		return "", errors.New("give the cluster secret in a file (--cluster-secret-file, WSRELAY_CLUSTER_SECRET_FILE) or in WSRELAY_CLUSTER_SECRET, not both")
	}
	fi, err := os.Stat(*f.secretFile)
	if err != nil {
		return "", fmt.Errorf("--cluster-secret-file: %w", err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > 4096 {
		return "", fmt.Errorf("--cluster-secret-file %s: want a regular file of at most 4096 bytes", *f.secretFile)
	}
	b, err := os.ReadFile(*f.secretFile)
	if err != nil {
		return "", fmt.Errorf("--cluster-secret-file: %w", err)
	}
	return checkSecret(string(b), "--cluster-secret-file "+*f.secretFile)
}

func checkSecret(s, where string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) < minSecret {
		return "", fmt.Errorf("%s: the cluster secret has %d bytes; use %d or more (head -c 32 /dev/urandom | base64)", where, len(s), minSecret)
	}
	return s, nil
}

// embedded is the configuration of an embedded NATS server.
type embedded struct {
	node        string // its server name: JetStream tells the servers of a cluster apart by name
	listen      string // for clients: this node, and others that join with --cluster
	store       string // JetStream's; "" for a temporary directory
	routes      string // comma-separated route URLs of every server, this one's included; "" to run alone
	routeListen string // for the other servers' routes
	secret      string
}

// options turns e into the server's options. Servers routed together are
// one NATS cluster (named cluster.DefaultCluster) and one JetStream
// cluster; servers counts them (0 when e runs alone).
func (e embedded) options() (o *server.Options, servers int, err error) {
	host, port, err := hostPort("--nats-listen", e.listen)
	if err != nil {
		return nil, 0, err
	}
	// The server keeps a bcrypt hash of the secret for clients, as it
	// asks (it warns of a password in plain text). The least cost: the
	// hash never leaves this process, which holds the secret anyway, and
	// the server checks it at each connection (at the default cost, tens
	// of milliseconds each, seconds under the race detector).
	hash, err := bcrypt.GenerateFromPassword([]byte(e.secret), bcrypt.MinCost)
	if err != nil {
		return nil, 0, fmt.Errorf("cluster secret: %w", err)
	}
	o = &server.Options{
		ServerName: e.node, Host: host, Port: port, NoSigs: true,
		Username: nodeUser, Password: string(hash),
		JetStream: true, StoreDir: e.store,
		DisableJetStreamBanner: true,
	}
	if (e.routes == "") != (e.routeListen == "") {
		return nil, 0, errors.New("--nats-routes and --nats-cluster-listen go together: the embedded NATS listens for routes at the one and routes to the others")
	}
	if e.routes == "" {
		return o, 0, nil
	}
	chost, cport, err := hostPort("--nats-cluster-listen", e.routeListen)
	if err != nil {
		return nil, 0, err
	}
	o.Cluster = server.ClusterOpts{Name: cluster.DefaultCluster, Host: chost, Port: cport, Username: routeUser, Password: e.secret}
	self := false
	seen := map[string]bool{}
	for _, r := range strings.Split(e.routes, ",") {
		r = strings.TrimSpace(r)
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "nats" || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") {
			return nil, 0, fmt.Errorf("--nats-routes: %q: want nats://HOST:PORT (the secret is added)", r)
		}
		if _, _, err := hostPort("--nats-routes", u.Host); err != nil {
			return nil, 0, err
		}
		if seen[u.Host] {
			continue
		}
		seen[u.Host] = true
		self = self || u.Host == e.routeListen
		u.User = url.UserPassword(routeUser, e.secret)
		o.Routes = append(o.Routes, u)
	}
	// The list names every server, this one's included: a listen address
	// of 0.0.0.0 or a host name is not spelled as in the routes, so no
	// spelling is trusted to tell this server apart. A list that leaves
	// out this node's own address, in the same spelling, is counted one
	// short when it cannot be matched: fewer copies, never a wait for a
	// server that does not exist.
	servers = len(seen)
	if !self && literalIP(chost) {
		if _, listed := portsOf(seen)[cport]; !listed {
			servers++ // this server's port is in no route: it was left out
		}
	}
	return o, servers, nil
}

// hostPort splits addr, whose port may be 0 (any free port).
func hostPort(flag, addr string) (string, int, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%s %q: %w", flag, addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("%s %q: bad port", flag, addr)
	}
	if port == 0 {
		port = -1 // nats-server's "any free port"
	}
	return host, port, nil
}

// serve runs the embedded NATS server and returns its client URL.
func (cn *clusterNode) serve(e embedded, log *slog.Logger) (string, error) {
	o, servers, err := e.options()
	if err != nil {
		return "", err
	}
	if o.StoreDir == "" {
		if cn.tmp, err = os.MkdirTemp("", "wsrelay-nats-"); err != nil {
			return "", err
		}
		o.StoreDir = cn.tmp
	}
	if cn.srv, err = server.NewServer(o); err != nil {
		return "", fmt.Errorf("embedded NATS: %w", err)
	}
	cn.servers = servers
	sl := newServerLog(log)
	cn.srv.SetLoggerV2(sl, sl.log.Enabled(context.Background(), slog.LevelDebug), false, false)
	go cn.srv.Start()
	for deadline := time.Now().Add(10 * time.Second); ; {
		if msg := sl.fatal.Load(); msg != nil {
			return "", fmt.Errorf("embedded NATS: %s", *msg)
		}
		if cn.srv.ReadyForConnections(100 * time.Millisecond) {
			break
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("embedded NATS did not start at %s (is the address in use?)", e.listen)
		}
	}
	if msg := sl.fatal.Load(); msg != nil {
		return "", fmt.Errorf("embedded NATS: %s", *msg)
	}
	args := []any{"url", cn.srv.ClientURL(), "store", o.StoreDir}
	if servers > 0 {
		args = append(args, "routes", cn.srv.ClusterAddr().String(), "servers", servers)
	}
	log.Info("embedded NATS listening", args...)
	return cn.srv.ClientURL(), nil
}

// redact hides the passwords of a comma-separated list of URLs.
func redact(urls string) string {
	var out []string
	for _, s := range strings.Split(urls, ",") {
		if u, err := url.Parse(strings.TrimSpace(s)); err == nil && u.User != nil {
			s = u.Redacted()
		}
		out = append(out, s)
	}
	return strings.Join(out, ",")
}

// literalIP reports whether host is a specific IP address (not a name,
// not 0.0.0.0 or ::).
func literalIP(host string) bool {
	ip := net.ParseIP(host)
	return ip != nil && !ip.IsUnspecified()
}

// portsOf returns the ports of the host:port addresses in hosts.
func portsOf(hosts map[string]bool) map[int]struct{} {
	ports := map[int]struct{}{}
	for h := range hosts {
		if _, p, err := net.SplitHostPort(h); err == nil {
			if n, err := strconv.Atoi(p); err == nil {
				ports[n] = struct{}{}
			}
		}
	}
	return ports
}
