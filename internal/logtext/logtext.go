// Package logtext bounds text that goes into log lines: a value from a
// client or a script must not make one line megabytes long.
package logtext

import "unicode/utf8"

// Cut returns s, or its first max bytes (cut on a UTF-8 boundary) with
// "…(cut)" after them when s is longer.
func Cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…(cut)"
}
