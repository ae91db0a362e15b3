package config_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wsrelay/wsrelay/config"
)

func TestAllowedHosts(t *testing.T) {
	load := func(hosts string) (*config.App, error) {
		return config.Load(fstest.MapFS{"_index.yaml": {Data: []byte(`version: "1.0"
namespace: app
entries:
  - name: gateway
    kind: http.service
    addr: 127.0.0.1:8080
    allowed_hosts: ` + hosts + "\n")}}, config.StandardKinds())
	}
	app, err := load(`[app.test, "*.corp.test", "192.168.1.20"]`)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := app.Entry("app:gateway")
	if got := e.Spec.(*config.HTTPService).AllowedHosts; len(got) != 3 || got[1] != "*.corp.test" {
		t.Errorf("allowed_hosts %q", got)
	}
	_, err = load(`[app.test, "app.test:8080", "http://x.test", "", "a.test,b.test"]`)
	for _, want := range []string{"allowed_hosts: item 2", "allowed_hosts: item 3", "allowed_hosts: item 4", "allowed_hosts: item 5"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad allowed_hosts: %v, want a problem naming %q", err, want)
		}
	}
}
