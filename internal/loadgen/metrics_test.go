package loadgen

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestClusterSentSumsNodes: the fan-out's count of cluster traffic is the
// sum of what every node says it sent, and a node without the cluster
// metrics is an error that says so.
func TestClusterSentSumsNodes(t *testing.T) {
	node := func(body string) string {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(body)) }))
		t.Cleanup(s.Close)
		return s.URL + "/metrics"
	}
	a := node("# HELP x\nwsrelay_cluster_messages_total{direction=\"in\"} 7\nwsrelay_cluster_messages_total{direction=\"out\"} 3\nwsrelay_cluster_bytes_sent_total 300\n")
	b := node("wsrelay_cluster_bytes_sent_total 1.5e3\nwsrelay_cluster_messages_total{direction=\"out\"} 10\n")
	msgs, bytes, err := clusterSent(a + "," + b)
	if err != nil || msgs != 13 || bytes != 1800 {
		t.Fatalf("clusterSent = %v, %v, %v; want 13, 1800", msgs, bytes, err)
	}
	alone := node("process_resident_memory_bytes 1000\n")
	if _, _, err := clusterSent(a + "," + alone); err == nil || !strings.Contains(err.Error(), "in a cluster") {
		t.Fatalf("a node without cluster metrics: %v", err)
	}
	if _, _, err := clusterSent("http://192.0.2.1/metrics"); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("a remote node: %v", err)
	}
}
