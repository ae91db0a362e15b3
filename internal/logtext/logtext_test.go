package logtext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 8, "short"},
		{"exactly8", 8, "exactly8"},
		{"longer than eight", 8, "longer t…(cut)"},
		{"ééééé", 3, "é…(cut)"}, // é is two bytes: never half a rune
		{"日本語", 4, "日…(cut)"},
	} {
		got := Cut(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("Cut(%q, %d) is not UTF-8", tc.in, tc.max)
		}
	}
	if got := Cut(strings.Repeat("x", 1<<20), 8<<10); len(got) > 8<<10+len("…(cut)") {
		t.Errorf("a 1 MiB text cut to %d bytes", len(got))
	}
}
