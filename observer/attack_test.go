package observer_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/wsrelay/wsrelay/observer"
	"github.com/wsrelay/wsrelay/process"
)

// TestRebindingIsRefused: a page of another site whose name was rebound
// to 127.0.0.1 reaches a loopback observer with that name in its Host
// header and, being "same-origin" with it, would read every view and
// act; an observer without a token answers only loopback Host names.
func TestRebindingIsRefused(t *testing.T) {
	node, err := process.NewNode(&process.Options{Name: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	node.AddHost("app", nil)
	o, err := observer.Start(observer.Options{Addr: "127.0.0.1:0", Node: node, Actions: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		o.Close(context.Background())
		node.Shutdown(context.Background())
	}()
	victim := waiter(t, node, "victim")
	port := o.Addr()[strings.LastIndex(o.Addr(), ":"):]
	rebound := http.Header{"Host": {"evil.example" + port}, "Origin": {"http://evil.example" + port}}
	for _, path := range []string{"/api/processes", "/api/names", "/", "/api/config"} {
		if code, body := request(t, "GET", "http://"+o.Addr()+path, "", rebound); code != http.StatusMisdirectedRequest || !strings.Contains(body, "loopback") {
			t.Errorf("GET %s with a rebound Host: %d %.100q", path, code, body)
		}
	}
	if code, body := request(t, "POST", "http://"+o.Addr()+"/api/act", `{"do":"kill","pid":"`+victim.String()+`"}`, rebound); code != http.StatusMisdirectedRequest {
		t.Errorf("an action with a rebound Host: %d %q", code, body)
	}
	if !node.Alive(victim) {
		t.Fatal("a page on a rebound name killed a process")
	}
	for _, host := range []string{"localhost" + port, "127.0.0.1" + port} {
		if code, body := request(t, "GET", "http://"+o.Addr()+"/api/config", "", http.Header{"Host": {host}}); code != 200 {
			t.Errorf("Host %s: %d %q", host, code, body)
		}
	}
}

// TestProxiedObserverWithToken: an observer with a token behind a proxy
// on the same machine (which names it as it likes in the Host header)
// serves its pages and their live socket alike.
func TestProxiedObserverWithToken(t *testing.T) {
	o, _ := start(t, "s3cret")
	proxied := http.Header{"Host": {"observer.example"}, "Authorization": {"Bearer s3cret"}}
	if code, body := request(t, "GET", "http://"+o.Addr()+"/api/config", "", proxied); code != 200 {
		t.Fatalf("a page through the proxy: %d %q", code, body)
	}
	c, err := net.Dial("tcp", o.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /live HTTP/1.1\r\nHost: observer.example\r\nAuthorization: Bearer s3cret\r\nOrigin: http://observer.example\r\n"+
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	status, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		t.Fatalf("the live socket through the proxy: %q %v", status, err)
	}
}
