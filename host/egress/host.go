package egress

import (
	"fmt"
	"net/netip"
	"strings"
)

// CanonicalHost returns the canonical form of a URL host (without port):
//
//   - an IPv4 address in any spelling inet_aton accepts ("127.1",
//     "0x7f000001", "2130706433", "0177.0.0.1", "127.0.0.0x1") becomes its
//     dotted quad, so that it is judged as an address and never sent to DNS;
//     a host whose last label is a number but which is not such an address
//     ("1.2.3.4.5", "example.0x1") is an error, never a name;
//   - an IPv6 literal, with or without brackets, becomes its RFC 5952 form
//     without brackets, and an IPv4-mapped one becomes IPv4; a zone is
//     refused;
//   - a DNS name is lowercased and loses one trailing dot; its labels must be
//     1–63 letters, digits or inner hyphens, 253 bytes in all. Non-ASCII is
//     refused (IDNA is not supported).
func CanonicalHost(host string) (string, error) {
	name, ip, err := canonicalHost(host)
	if err != nil {
		return "", err
	}
	if ip.IsValid() {
		return ip.String(), nil
	}
	return name, nil
}

// canonicalHost returns either a canonical DNS name or a valid address.
func canonicalHost(host string) (string, netip.Addr, error) {
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
		if !strings.Contains(host, ":") {
			return "", netip.Addr{}, fmt.Errorf("egress: %w: bracketed host is not IPv6", ErrBadRequest)
		}
	}
	if strings.Contains(host, ":") {
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is6() {
			return "", netip.Addr{}, fmt.Errorf("egress: %w: invalid IPv6 literal", ErrBadRequest)
		}
		if ip.Zone() != "" {
			return "", netip.Addr{}, refused("scoped address")
		}
		return "", ip.Unmap(), nil
	}
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return "", netip.Addr{}, fmt.Errorf("egress: %w: empty host", ErrBadRequest)
	}
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			return "", netip.Addr{}, fmt.Errorf("egress: %w: non-ASCII host (IDNA is not supported; use punycode)", ErrBadRequest)
		}
	}
	host = strings.ToLower(host)
	if endsInNumber(host) {
		ip, ok := parseInetAton(host)
		if !ok {
			return "", netip.Addr{}, fmt.Errorf("egress: %w: numeric host is not a valid IPv4 address", ErrBadRequest)
		}
		return "", ip, nil
	}
	if !validName(host) {
		return "", netip.Addr{}, fmt.Errorf("egress: %w: invalid host name", ErrBadRequest)
	}
	return host, netip.Addr{}, nil
}

// endsInNumber reports whether the last label of a (lowercased) host is a
// number in the sense of the WHATWG URL standard: decimal digits, or "0x"
// and hex digits. Such a host is an IPv4 address or nothing.
func endsInNumber(host string) bool {
	last := host[strings.LastIndexByte(host, '.')+1:]
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		return strings.Trim(last[2:], "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// parseInetAton parses the IPv4 spellings glibc's inet_aton accepts: one to
// four parts, each decimal, octal (leading 0) or hex (leading 0x, possibly
// with no digits), the last part filling the remaining bytes. host is
// lowercase.
func parseInetAton(host string) (netip.Addr, bool) {
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals [4]uint64
	for i, p := range parts {
		v, ok := parseInetNumber(p)
		if !ok {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	n := len(parts)
	for _, v := range vals[:n-1] {
		if v > 0xff {
			return netip.Addr{}, false
		}
	}
	if vals[n-1] >= 1<<(8*(5-n)) {
		return netip.Addr{}, false
	}
	var addr uint64
	for i, v := range vals[:n-1] {
		addr |= v << (8 * (3 - i))
	}
	addr |= vals[n-1]
	return netip.AddrFrom4([4]byte{byte(addr >> 24), byte(addr >> 16), byte(addr >> 8), byte(addr)}), true
}

// parseInetNumber parses one inet_aton part, refusing values over 32 bits.
func parseInetNumber(s string) (uint64, bool) {
	base := uint64(10)
	switch {
	case s == "":
		return 0, false
	case strings.HasPrefix(s, "0x"):
		base, s = 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		base, s = 8, s[1:]
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		var d uint64
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			d = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			d = uint64(c-'a') + 10
		default:
			return 0, false
		}
		if d >= base {
			return 0, false
		}
		v = v*base + d
		if v > 0xffffffff {
			return 0, false
		}
	}
	return v, true
}

// validName reports whether a lowercase host is an LDH DNS name.
func validName(host string) bool {
	if len(host) > 253 {
		return false
	}
	for label := range strings.SplitSeq(host, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// isLocalhost reports whether a canonical name is under the special-use
// "localhost" domain (RFC 6761 §6.3).
func isLocalhost(name string) bool {
	return name == "localhost" || strings.HasSuffix(name, ".localhost")
}
