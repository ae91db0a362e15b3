package config

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrInvalid is matched (errors.Is) by Errors.
var ErrInvalid = errors.New("invalid configuration")

// Problem is one thing wrong with an app's configuration: where it is and
// what is wrong.
type Problem struct {
	File  string // the YAML (or Lua) file, relative to the app directory
	Line  int    // 1-based; 0 when unknown
	Entry string // the entry id, namespace:name; empty for file-level problems
	Field string // the field, like "meta.router" or "lifecycle.restart.max_delay"
	Msg   string
}

func (p *Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Entry != "" {
		b.WriteString("entry " + p.Entry + ": ")
	}
	if p.Field != "" {
		b.WriteString(p.Field + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Errors is every problem found in an app, sorted by file and line.
type Errors []*Problem

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, p := range es {
		lines[i] = p.Error()
	}
	return fmt.Sprintf("%d configuration problem(s):\n%s", len(es), strings.Join(lines, "\n"))
}

// Is makes errors.Is(err, ErrInvalid) true.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

// Sort orders the problems by file, line and message.
func (es Errors) Sort() {
	slices.SortStableFunc(es, func(a, b *Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Msg, b.Msg))
	})
}

// Err returns es as an error, or nil when there are none.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	es.Sort()
	return es
}
