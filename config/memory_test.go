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
