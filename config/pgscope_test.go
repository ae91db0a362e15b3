package config_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wsrelay/wsrelay/config"
)

func loadPGScope(fields string) (*config.App, error) {
	return config.Load(fstest.MapFS{"_index.yaml": {Data: []byte(`version: "1.0"
namespace: app
entries:
  - name: pg
    kind: pg.scope
` + fields)}}, config.StandardKinds())
}

func TestPGScope(t *testing.T) {
	app, err := loadPGScope("    max_groups: 10\n    max_members_per_group: 20\n    monitor_buffer: 8\n    monitor_buffer_bytes: 64KiB\n    lifecycle: {auto_start: true}\n")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := app.Entry("app:pg")
	s := e.Spec.(*config.PGScope)
	if s.MaxGroups != 10 || s.MaxMembersPerGroup != 20 || s.MonitorBuffer != 8 || s.MaxBufferBytes != 64<<10 || !s.Lifecycle.Started() {
		t.Fatalf("%+v", s)
	}
	if _, err := loadPGScope(""); err != nil {
		t.Fatalf("a scope with no fields: %v", err)
	}
}

// The original runtime's options with no meaning here are refused, each
// with its reason; bad bounds are refused too.
func TestPGScopeRefused(t *testing.T) {
	for _, tc := range []struct{ field, want string }{
		{"protocol_timeout: 5s", "protocol_timeout: has no meaning here: a node's joins and leaves travel"},
		{"anti_entropy_interval: 30s", "anti_entropy_interval: has no meaning here"},
		{"broadcast_timeout: 5s", "broadcast_timeout: has no meaning here: a broadcast is queued"},
		{"max_retries: 3", "max_retries: has no meaning here"},
		{"circuit_breaker_failures: 3", "circuit_breaker_failures: has no meaning here: the cluster's heartbeats"},
		{"action_queue_max_size: 1024", "action_queue_max_size: has no meaning here: a scope has no event queue"},
		{"max_groups: -1", "max_groups: must not be negative"},
		{"monitor_buffer_bytes: 1KiB", "monitor_buffer_bytes"},
		{"max_group: 3", "unknown field"},
	} {
		_, err := loadPGScope("    " + tc.field + "\n")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want a problem containing %q", tc.field, err, tc.want)
		}
	}
}
