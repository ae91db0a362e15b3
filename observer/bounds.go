package observer

import "unicode/utf8"

// MaxViewBytes bounds what a view lists of names and process groups, as
// JSON: a view of one node fits one NATS message (1 MiB by default) with
// room to spare, and a page gets at most that much of one node a second.
// What a view leaves out it counts (NamesView.Total, ProcessView.NamesTotal,
// GroupView.Total).
const MaxViewBytes = 512 << 10

// MaxNamesPerRow bounds the names a row of /processes lists; the
// process's own page lists them all (at most the node's
// MaxNamesPerProcess, 64 by default).
const MaxNamesPerRow = 4

// MaxGroupsShown bounds the groups a groups view lists.
const MaxGroupsShown = 1000

// budget counts down the bytes a view may still list.
type budget struct{ left int }

func newBudget() *budget { return &budget{left: MaxViewBytes - 4096} } // the rest: the view's own fields

// take spends the JSON bytes of strings s (quoted, with a separator and
// a key of up to 16 bytes each) if they fit, and reports whether they did.
func (b *budget) take(s ...string) bool {
	n := 0
	for _, x := range s {
		n += jsonLen(x) + 20
	}
	if n > b.left {
		return false
	}
	b.left -= n
	return true
}

// clipJSON cuts s, at a character, so that it takes at most n bytes as
// JSON (jsonLen), an ellipsis included when it was cut.
func clipJSON(s string, n int) string {
	if len(s) <= n/6 || jsonLen(s) <= n {
		return s
	}
	used := 0
	for i := 0; i < len(s); {
		w := 1
		if s[i] >= utf8.RuneSelf {
			_, w = utf8.DecodeRuneInString(s[i:])
		}
		c := jsonLen(s[i : i+w])
		if used+c > n-len("…") {
			return s[:i] + "…"
		}
		used += c
		i += w
	}
	return s
}

// jsonLen is at least the bytes encoding/json writes for s, quotes
// excluded: '<', '>', '&', control characters, U+2028, U+2029 and each
// byte of invalid UTF-8 take six ("\u003c"), '"' and '\\' two.
func jsonLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c < 0x20 || c == '<' || c == '>' || c == '&':
				n += 6
			case c == '"' || c == '\\':
				n += 2
			default:
				n++
			}
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 || r == '\u2028' || r == '\u2029' {
			n += 6
		} else {
			n += w
		}
		i += w
	}
	return n
}
