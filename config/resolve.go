package config

import "strings"

// resolve checks every entry (which resolves its references) and orders
// the entries so that each comes after those it refers to.
func (l *loader) resolve() {
	for _, e := range l.entries {
		e.Spec.(Spec).Check(&Checker{l: l, e: e})
	}
	if len(l.probs) > 0 {
		return
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := make(map[string]int, len(l.entries))
	var visit func(e *Entry, path []string)
	visit = func(e *Entry, path []string) {
		switch state[e.ID] {
		case done:
			return
		case visiting:
			i := 0
			for path[i] != e.ID {
				i++
			}
			cycle := append(path[i:], e.ID)
			l.fail(e.Problem("", "dependency cycle: %s", strings.Join(cycle, " -> ")))
			return
		}
		state[e.ID] = visiting
		for _, r := range e.refs {
			visit(l.app.byID[r.to], append(path, e.ID))
		}
		state[e.ID] = done
		l.app.Entries = append(l.app.Entries, e)
	}
	for _, e := range l.entries {
		visit(e, nil)
	}
}
