package config_test

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/wsrelay/wsrelay/config"
)

// memory_limit of Lua entries: a size with a unit, from 1MiB to 4GiB.
func TestLuaMemoryLimit(t *testing.T) {
	app := func(limit string) fstest.MapFS {
		return fstest.MapFS{
			"_index.yaml": {Data: []byte(`version: "1.0"
namespace: app
entries:
  - name: fn
    kind: function.lua
    source: file://fn.lua
    method: handler
    memory_limit: ` + limit + `
  - name: proc
    kind: process.lua
    source: file://fn.lua
    method: handler
`)},
			"fn.lua": {Data: []byte(`return {handler = function() end}`)},
		}
	}
	for limit, want := range map[string]int64{"8MiB": 8 << 20, "1GiB": 1 << 30, "2048KiB": 2 << 20, "1048576B": 1 << 20} {
		cfg, err := config.Load(app(limit), config.StandardKinds())
		if err != nil {
			t.Fatalf("%s: %v", limit, err)
		}
		e, _ := cfg.Entry("app:fn")
		if got := e.Spec.(*config.FunctionLua).MaxMemory; got != want {
			t.Errorf("%s: %d bytes, want %d", limit, got, want)
		}
		p, _ := cfg.Entry("app:proc")
		if got := p.Spec.(*config.ProcessLua).MaxMemory; got != 0 {
			t.Errorf("an entry without memory_limit: %d", got)
		}
	}
	for limit, want := range map[string]string{
		"64":     "no unit",
		"64MB":   "not a size in bytes",
		"lots":   "no unit",
		"512KiB": "must be from 1MiB to 4GiB",
		"8GiB":   "must be from 1MiB to 4GiB",
		"-1MiB":  "not a size in bytes",
	} {
		_, err := config.Load(app(limit), config.StandardKinds())
		if err == nil || !strings.Contains(err.Error(), "memory_limit") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming memory_limit and %q", limit, err, want)
		}
	}
}

// mailbox_bytes of process hosts: a size with a unit, from 64KiB to 4GiB.
func TestMailboxBytes(t *testing.T) {
	app := func(bytes string) fstest.MapFS {
		return fstest.MapFS{"_index.yaml": {Data: []byte(`version: "1.0"
namespace: app
entries:
  - name: small
    kind: process.host
    mailbox_bytes: ` + bytes + `
  - name: plain
    kind: process.host
`)}}
	}
	cfg, err := config.Load(app("256KiB"), config.StandardKinds())
	if err != nil {
		t.Fatal(err)
	}
	e, _ := cfg.Entry("app:small")
	if got := e.Spec.(*config.ProcessHost).MaxMailboxBytes; got != 256<<10 {
		t.Errorf("256KiB: %d bytes", got)
	}
	p, _ := cfg.Entry("app:plain")
	if got := p.Spec.(*config.ProcessHost).MaxMailboxBytes; got != 0 {
		t.Errorf("a host without mailbox_bytes: %d (0: the runtime's default)", got)
	}
	for bytes, want := range map[string]string{"1000": "no unit", "32KiB": "must be from 64KiB to 4GiB", "5GiB": "must be from 64KiB to 4GiB"} {
		_, err := config.Load(app(bytes), config.StandardKinds())
		if err == nil || !strings.Contains(err.Error(), "app:small") || !strings.Contains(err.Error(), "mailbox_bytes") || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming the entry, mailbox_bytes and %q", bytes, err, want)
		}
	}
}
