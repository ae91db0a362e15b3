package appdata

import (
	"fmt"
	"time"

	"github.com/wsrelay/wsrelay/config"
	"github.com/wsrelay/wsrelay/luart"
	"github.com/wsrelay/wsrelay/value"
)

// Registry is the app's entries as the registry module shows them; it
// implements luart.Registry. It is built once and never changes.
type Registry struct {
	entries []luart.RegistryEntry
	byID    map[string]int
}

// NewRegistry takes the entries of cfg, in their dependency order.
func NewRegistry(cfg *config.App) *Registry {
	r := &Registry{byID: map[string]int{}}
	for _, e := range cfg.Entries {
		r.byID[e.ID] = len(r.entries)
		r.entries = append(r.entries, luart.RegistryEntry{ID: e.ID, Kind: e.Kind, Meta: toValue(e.Meta), Data: toValue(e.Data)})
	}
	return r
}

// Entries returns every entry.
func (r *Registry) Entries() []luart.RegistryEntry { return r.entries }

// Entry returns the entry of an id.
func (r *Registry) Entry(id string) (luart.RegistryEntry, bool) {
	i, ok := r.byID[id]
	if !ok {
		return luart.RegistryEntry{}, false
	}
	return r.entries[i], true
}

// toValue converts decoded YAML to a value; what a value cannot hold (a
// YAML timestamp, say) becomes its text.
func toValue(m map[string]any) value.Value {
	if m == nil {
		return value.Nil()
	}
	v, err := value.Of(plain(m, 0))
	if err != nil {
		return value.Nil()
	}
	return v
}

// plain makes decoded YAML into what value.Of takes. depth bounds the
// recursion; YAML is the app's own, and the decoder bounds aliases.
func plain(x any, depth int) any {
	if depth > 100 {
		return nil
	}
	switch t := x.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, v := range t {
			out[k] = plain(v, depth+1)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, v := range t {
			out[i] = plain(v, depth+1)
		}
		return out
	case nil, string, bool, int, int64, uint64, float64:
		return t
	case time.Time:
		return t.Format(time.RFC3339Nano)
	}
	return fmt.Sprint(x)
}
