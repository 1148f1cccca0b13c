package egress

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestHostListAllow(t *testing.T) {
	tests := []struct {
		name     string
		patterns []string
		url      string
		allow    bool
	}{
		{"exact name", []string{"api.github.com"}, "https://api.github.com/repos", true},
		{"exact name, other host", []string{"api.github.com"}, "https://github.com/", false},
		{"exact name is not a suffix match", []string{"github.com"}, "https://evil-github.com/", false},
		{"exact name does not cover subdomain", []string{"github.com"}, "https://api.github.com/", false},
		{"attacker suffix after allowed name", []string{"github.com"}, "https://github.com.evil.org/", false},
		{"wildcard one level", []string{"*.example.org"}, "https://a.example.org/", true},
		{"wildcard any depth", []string{"*.example.org"}, "https://a.b.c.example.org/", true},
		{"wildcard does not match apex", []string{"*.example.org"}, "https://example.org/", false},
		{"wildcard needs a label boundary", []string{"*.example.org"}, "https://evilexample.org/", false},
		{"wildcard and apex together", []string{"*.example.org", "example.org"}, "https://example.org/", true},
		{"no port matches any port", []string{"example.org"}, "http://example.org:8443/", true},
		{"port restriction", []string{"example.org:8443"}, "https://example.org:8443/", true},
		{"port restriction, other port", []string{"example.org:8443"}, "https://example.org:8444/", false},
		{"port restriction, default port", []string{"example.org:8443"}, "https://example.org/", false},
		{"port pattern matches scheme default", []string{"example.org:443"}, "https://example.org/", true},
		{"port 443 pattern, http default 80", []string{"example.org:443"}, "http://example.org/", false},
		{"scheme restriction https", []string{"https://example.org"}, "https://example.org/", true},
		{"scheme restriction refuses downgrade", []string{"https://example.org"}, "http://example.org/", false},
		{"scheme restriction http", []string{"http://example.org"}, "https://example.org/", false},
		{"no scheme matches http", []string{"example.org"}, "http://example.org/", true},
		{"no scheme matches https", []string{"example.org"}, "https://example.org/", true},
		{"scheme and port", []string{"https://example.org:8443"}, "https://example.org:8443/x", true},
		{"other scheme never matches", []string{"example.org"}, "ftp://example.org/", false},
		{"case-insensitive URL host", []string{"api.github.com"}, "https://API.GitHub.Com/", true},
		{"case-insensitive pattern", []string{"API.GitHub.com"}, "https://api.github.com/", true},
		{"trailing dot in URL", []string{"example.org"}, "https://example.org./", true},
		{"trailing dot in pattern", []string{"example.org."}, "https://example.org/", true},
		{"trailing dot under wildcard", []string{"*.example.org"}, "https://a.example.org./", true},
		{"IPv4 literal", []string{"203.0.113.7"}, "http://203.0.113.7/", true},
		{"IPv4 obfuscated in URL matches canonical", []string{"127.0.0.1"}, "http://0x7f000001/", true},
		{"IPv4 short form in URL matches canonical", []string{"127.0.0.1"}, "http://127.1/", true},
		{"mapped IPv6 URL matches IPv4 pattern", []string{"127.0.0.1"}, "http://[::ffff:127.0.0.1]/", true},
		{"IPv6 literal", []string{"[2001:db8::1]"}, "http://[2001:db8:0::1]:8080/", true},
		{"IPv6 literal with port", []string{"[2001:db8::1]:8080"}, "http://[2001:db8::1]:8080/", true},
		{"IPv6 literal other port", []string{"[2001:db8::1]:8080"}, "http://[2001:db8::1]:80/", false},
		{"name pattern never matches an address", []string{"localhost"}, "http://127.0.0.1/", false},
		{"userinfo refused", []string{"example.org"}, "http://user@example.org/", false},
		{"invalid URL host refused", []string{"example.org"}, "http://exa_mple.org/", false},
		{"numeric host that is no address", []string{"example.org"}, "http://1.2.3.4.5/", false},
		{"empty list allows nothing", nil, "https://example.org/", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := CompileHosts(tt.patterns)
			if err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := h.Allow(u); got != tt.allow {
				t.Fatalf("Allow(%s) with %q = %v, want %v", tt.url, tt.patterns, got, tt.allow)
			}
		})
	}
}

func TestNilHostListAllowsNothing(t *testing.T) {
	var h *HostList
	if h.Allow(&url.URL{Scheme: "https", Host: "example.org"}) {
		t.Fatal("nil HostList allowed a URL")
	}
}

func TestCompileHostsRejects(t *testing.T) {
	for _, tt := range []struct{ name, pattern string }{
		{"bare star", "*"},
		{"star with path", "*.com/x"},
		{"userinfo", "user@host"},
		{"empty", ""},
		{"space inside", "ex ample.org"},
		{"scheme only", "http://"},
		{"other scheme", "ftp://x"},
		{"path", "example.org/api"},
		{"query", "example.org?x"},
		{"fragment", "example.org#x"},
		{"star in the middle", "api.*.example.org"},
		{"star suffix", "example.*"},
		{"double wildcard", "*.*.example.org"},
		{"wildcard without name", "*."},
		{"wildcard on address", "*.127.0.0.1"},
		{"partial-label wildcard", "*example.org"},
		{"empty port", "example.org:"},
		{"port zero", "example.org:0"},
		{"port too big", "example.org:65536"},
		{"signed port", "example.org:+80"},
		{"port not a number", "example.org:http"},
		{"unbracketed IPv6", "::1"},
		{"unterminated IPv6", "[::1"},
		{"bracketed IPv4", "[127.0.0.1]"},
		{"IPv6 zone", "[fe80::1%25eth0]"},
		{"junk after IPv6", "[::1]x"},
		{"short IPv4 form", "127.1"},
		{"hex IPv4 form", "0x7f000001"},
		{"numeric TLD", "example.123"},
		{"underscore", "exa_mple.org"},
		{"non-ASCII", "ünicode.org"},
		{"backslash", "example.org\\evil"},
		{"tab", "example.org\t"},
		{"scheme typo", "https:/example.org"},
		{"upper-case other scheme", "FILE://x"},
		{"two schemes", "http://https://example.org"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompileHosts([]string{"ok.example.org", tt.pattern})
			if !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("CompileHosts(%q) = %v, want ErrInvalidPattern", tt.pattern, err)
			}
		})
	}
}

func FuzzCompileHosts(f *testing.F) {
	for _, s := range []string{
		"api.github.com", "*.example.org", "https://example.org:8443", "[2001:db8::1]:80",
		"127.0.0.1", "*", "user@host", "http://", "[::1", "*.com/x", "HTTP://A.B.",
	} {
		f.Add(s, "https://a.example.org:8443/x")
	}
	f.Fuzz(func(t *testing.T, pattern, rawURL string) {
		h, err := CompileHosts([]string{pattern})
		if err != nil {
			if !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("CompileHosts(%q): unclassified error %v", pattern, err)
			}
			return
		}
		rest := strings.ToLower(pattern)
		if i := strings.Index(rest, "://"); i >= 0 {
			rest = rest[i+3:]
		}
		if rest == "*" || strings.ContainsAny(rest, "/@?#\\ ") {
			t.Fatalf("CompileHosts accepted %q", pattern)
		}
		if u, err := url.Parse(rawURL); err == nil {
			_ = h.Allow(u)
		}
		// A pattern without wildcard matches the URL built from it.
		if !strings.Contains(pattern, "*") {
			u, err := url.Parse("https://" + rest + "/")
			if err == nil && strings.HasPrefix(strings.ToLower(pattern), "http://") {
				u.Scheme = "http"
			}
			if err == nil && !h.Allow(u) {
				t.Fatalf("pattern %q does not match %s", pattern, u)
			}
		}
	})
}
