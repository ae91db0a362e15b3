package suggest

import (
	"strings"
	"testing"
)

func TestClosest(t *testing.T) {
	kinds := []string{"http.service", "http.router", "http.endpoint", "process.host", "process.lua"}
	for _, tc := range []struct {
		word  string
		cands []string
		want  string
	}{
		{"http.routr", kinds, "http.router"},
		{"http.serivce", kinds, "http.service"},
		{"HTTP.Router", kinds, "http.router"},
		{"mian", []string{"main", "handler"}, "main"},
		{"jsno", []string{"json", "time", "http"}, "json"},
		{"cros", []string{"cors", "websocket_relay"}, "cors"},
		{"colour", []string{"addr", "timeouts", "lifecycle"}, ""},
		{"x", []string{"abc"}, ""},
		{"", []string{"a"}, ""},
		{strings.Repeat("http.router", 1000), kinds, ""},
	} {
		if got := Closest(tc.word, tc.cands); got != tc.want {
			t.Errorf("Closest(%.40q) = %q, want %q", tc.word, got, tc.want)
		}
	}
	if got := DidYouMean("mian", []string{"main"}); got != ` (did you mean "main"?)` {
		t.Errorf("DidYouMean = %q", got)
	}
	if got := DidYouMean("zzz", []string{"main"}); got != "" {
		t.Errorf("DidYouMean with nothing close = %q", got)
	}
}
