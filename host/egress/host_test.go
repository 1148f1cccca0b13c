package egress

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// None of these tests resolves or dials anything.

func TestCanonicalHost(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"short form 127.1", "127.1", "127.0.0.1"},
		{"single hex number", "0x7f000001", "127.0.0.1"},
		{"single decimal number", "2130706433", "127.0.0.1"},
		{"octal first part", "0177.0.0.1", "127.0.0.1"},
		{"hex first part, short form", "0x7f.1", "127.0.0.1"},
		{"hex last part", "127.0.0.0x1", "127.0.0.1"},
		{"upper-case hex", "0X7F.0.0.1", "127.0.0.1"},
		{"two parts private", "10.1", "10.0.0.1"},
		{"three parts", "10.1.258", "10.1.1.2"},
		{"octal metadata", "0251.0376.0251.0376", "169.254.169.254"},
		{"decimal metadata", "2852039166", "169.254.169.254"},
		{"empty hex is zero", "0x", "0.0.0.0"},
		{"trailing dot on address", "127.0.0.1.", "127.0.0.1"},
		{"dotted quad unchanged", "8.8.8.8", "8.8.8.8"},
		{"bracketed IPv6", "[::1]", "::1"},
		{"bare IPv6", "2606:4700:4700:0:0:0:0:1111", "2606:4700:4700::1111"},
		{"mapped IPv6 becomes IPv4", "::ffff:127.0.0.1", "127.0.0.1"},
		{"mapped IPv6 hex form", "[::ffff:7f00:1]", "127.0.0.1"},
		{"mixed case name", "Api.GitHub.COM", "api.github.com"},
		{"trailing dot on name", "example.org.", "example.org"},
		{"punycode is ASCII", "xn--nxasmq6b.example", "xn--nxasmq6b.example"},
		{"digits in name labels", "1.2.3.example", "1.2.3.example"},
		{"hex-looking label not last", "0x7f.example", "0x7f.example"},
		{"label looks hex but is not", "example.0xg", "example.0xg"},
		{"localhost", "localhost", "localhost"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CanonicalHost(tt.in)
			if err != nil {
				t.Fatalf("CanonicalHost(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Fatalf("CanonicalHost(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestCanonicalHostRefuses(t *testing.T) {
	tests := []struct {
		name, in string
		want     error
	}{
		{"octet over 255", "256.0.0.1", ErrBadRequest},
		{"five parts", "1.2.3.4.5", ErrBadRequest},
		{"8 in octal", "08.0.0.1", ErrBadRequest},
		{"single number over 32 bits", "4294967296", ErrBadRequest},
		{"hex over 32 bits", "0x100000000", ErrBadRequest},
		{"huge number", strings.Repeat("9", 40), ErrBadRequest},
		{"last part over its width", "1.2.65536", ErrBadRequest},
		{"empty part", "127..1", ErrBadRequest},
		{"numeric TLD is never a name", "example.0x1", ErrBadRequest},
		{"numeric TLD decimal", "example.123", ErrBadRequest},
		{"signed part", "+1.2.3.4", ErrBadRequest},
		{"underscore", "exa_mple.org", ErrBadRequest},
		{"leading hyphen", "-bad.org", ErrBadRequest},
		{"trailing hyphen", "bad-.org", ErrBadRequest},
		{"empty label", "a..b", ErrBadRequest},
		{"two trailing dots", "example.org..", ErrBadRequest},
		{"empty", "", ErrBadRequest},
		{"just a dot", ".", ErrBadRequest},
		{"non-ASCII (no IDNA)", "ünicode.org", ErrBadRequest},
		{"homograph cyrillic a", "\u0430pple.com", ErrBadRequest},
		{"space", "ex ample.org", ErrBadRequest},
		{"NUL", "example.org\x00.evil", ErrBadRequest},
		{"percent", "ex%61mple.org", ErrBadRequest},
		{"label over 63", strings.Repeat("a", 64) + ".org", ErrBadRequest},
		{"name over 253", strings.Repeat("a.", 127) + "org", ErrBadRequest},
		{"bad IPv6", "[::g]", ErrBadRequest},
		{"bracketed IPv4", "[127.0.0.1]", ErrBadRequest},
		{"zone", "fe80::1%eth0", ErrAddressRefused},
		{"bracketed zone", "[fe80::1%eth0]", ErrAddressRefused},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CanonicalHost(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("CanonicalHost(%q) = %q, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzCanonicalHost(f *testing.F) {
	for _, s := range []string{
		"127.1", "0x7f000001", "2130706433", "0177.0.0.1", "0x7f.1", "127.0.0.0x1",
		"example.org.", "[::ffff:127.0.0.1]", "fe80::1%eth0", "*.example.org", "1.2.3.4.5",
		"0x", "a..b", "ünicode", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := CanonicalHost(in)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrAddressRefused) {
				t.Fatalf("CanonicalHost(%q): unclassified error %v", in, err)
			}
			return
		}
		again, err := CanonicalHost(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, out, again, err)
		}
		if ip, err := netip.ParseAddr(out); err == nil {
			if ip.Zone() != "" || ip.Is4In6() {
				t.Fatalf("CanonicalHost(%q) = %q: zone or mapped form survived", in, out)
			}
			return
		}
		if !validName(out) || endsInNumber(out) || out != strings.ToLower(out) {
			t.Fatalf("CanonicalHost(%q) = %q: not a canonical name", in, out)
		}
	})
}
