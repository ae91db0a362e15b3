package origin

import "testing"

func TestAllows(t *testing.T) {
	l, err := Parse("https://app.example.com, http://localhost:3000 ,https://*.corp.test,HTTPS://Upper.Example.com:443")
	if err != nil {
		t.Fatal(err)
	}
	for origin, want := range map[string]bool{
		"https://app.example.com":      true,
		"https://APP.example.com":      true,
		"https://app.example.com:443":  true,
		"http://app.example.com":       false, // scheme differs
		"https://app.example.com:8443": false,
		"http://localhost:3000":        true,
		"http://localhost:3001":        false,
		"https://a.corp.test":          true,
		"https://a.b.corp.test":        true,
		"https://corp.test":            false, // a wildcard needs a subdomain
		"https://evilcorp.test":        false,
		"https://a.corp.test.evil.com": false,
		"https://upper.example.com":    true,
		"null":                         false,
		"":                             false,
		"https://app.example.com/path": false,
	} {
		if got := l.Allows(origin); got != want {
			t.Errorf("Allows(%q) = %v, want %v", origin, got, want)
		}
	}
	star, _ := Parse("*")
	if !star.Allows("https://anything.example") {
		t.Error("* should allow everything")
	}
	if none, _ := Parse(" , "); !none.Empty() || none.Allows("https://a.b") {
		t.Error("an empty list allows nothing")
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{"app.example.com", "https://", "https://a.*.com", "https://*.", "https://app.example.com/x", "ftp//x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted a malformed origin", bad)
		}
	}
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		origin, host string
		want         bool
	}{
		{"http://127.0.0.1:8080", "127.0.0.1:8080", true},
		{"https://example.com", "example.com", true},
		{"https://example.com", "example.com:443", true},
		{"http://example.com", "example.com:80", true},
		{"http://example.com:8080", "example.com", false},
		{"http://evil.com", "example.com", false},
		{"http://[::1]:8080", "[::1]:8080", true},
		{"garbage", "example.com", false},
	} {
		if got := SameOrigin(tc.origin, tc.host); got != tc.want {
			t.Errorf("SameOrigin(%q, %q) = %v, want %v", tc.origin, tc.host, got, tc.want)
		}
	}
}

func TestHosts(t *testing.T) {
	h, err := ParseHosts("app.test, *.corp.test ,192.168.1.20,[fd00::1], Upper.Example.")
	if err != nil {
		t.Fatal(err)
	}
	none, _ := ParseHosts("")
	for host, want := range map[string]bool{
		"localhost":                  true,
		"localhost:8080":             true,
		"LOCALHOST.:1":               true,
		"127.0.0.1:18080":            true,
		"127.9.8.7":                  true,
		"[::1]:8080":                 true,
		"::1":                        true,
		"":                           true, // HTTP/1.0 without Host: not a browser
		"app.test":                   true,
		"APP.test:9000":              true,
		"a.corp.test":                true,
		"corp.test":                  false,
		"evilcorp.test":              false,
		"192.168.1.20:80":            true,
		"[fd00::1]:443":              true,
		"upper.example:80":           true,
		"attacker.example:18080":     false,
		"localhost.attacker.example": false,
		"127.0.0.1.attacker.example": false,
		"0.0.0.0":                    false,
	} {
		if got := h.Allows(host); got != want {
			t.Errorf("Allows(%q) = %v, want %v", host, got, want)
		}
		if IsLoopbackHost(host) != none.Allows(host) && host != "" {
			t.Errorf("an empty list must allow exactly the loopback names: %q", host)
		}
	}
	star, _ := ParseHosts("*")
	if !star.Allows("attacker.example") {
		t.Error("* allows every name")
	}
	for _, bad := range []string{"http://app.test", "app.test:8080", "a*b.test", "*.", "user@app.test"} {
		if _, err := ParseHosts(bad); err == nil {
			t.Errorf("ParseHosts(%q) accepted a malformed host", bad)
		}
	}
}
