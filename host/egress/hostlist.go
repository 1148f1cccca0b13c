package egress

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// HostList is a grant's compiled caps.http.hosts allowlist (grammar in the
// package doc). A nil or empty HostList allows nothing.
type HostList struct {
	rules []hostRule
}

// hostRule is one compiled pattern. Exactly one of name, suffix and ip is set.
type hostRule struct {
	scheme string     // "http", "https", or "" for both
	port   int        // 0 for any port
	name   string     // exact canonical DNS name
	suffix string     // ".example.org" for "*.example.org"
	ip     netip.Addr // literal address
}

// CompileHosts validates and compiles caps.http.hosts patterns. Any pattern
// outside the grammar is an error wrapping [ErrInvalidPattern].
func CompileHosts(patterns []string) (*HostList, error) {
	h := &HostList{rules: make([]hostRule, 0, len(patterns))}
	for _, p := range patterns {
		r, err := compileHost(p)
		if err != nil {
			return nil, fmt.Errorf("egress: host pattern %q: %w", p, err)
		}
		h.rules = append(h.rules, r)
	}
	return h, nil
}

func compileHost(p string) (hostRule, error) {
	var r hostRule
	for i := 0; i < len(p); i++ {
		if p[i] <= ' ' || p[i] >= 0x7f {
			return r, fmt.Errorf("%w: space, control or non-ASCII character", ErrInvalidPattern)
		}
	}
	rest := strings.ToLower(p)
	if i := strings.Index(rest, "://"); i >= 0 {
		r.scheme = rest[:i]
		if r.scheme != "http" && r.scheme != "https" {
			return r, fmt.Errorf("%w: scheme must be http or https", ErrInvalidPattern)
		}
		rest = rest[i+3:]
	}
	if strings.ContainsAny(rest, "/?#@\\%") {
		return r, fmt.Errorf("%w: only [scheme://]host[:port] is allowed", ErrInvalidPattern)
	}
	host, port, err := splitPatternHostPort(rest)
	if err != nil {
		return r, err
	}
	r.port = port
	switch {
	case strings.HasPrefix(host, "["):
		ip, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !ip.Is6() || ip.Zone() != "" {
			return r, fmt.Errorf("%w: invalid IPv6 literal", ErrInvalidPattern)
		}
		r.ip = ip.Unmap()
	case strings.HasPrefix(host, "*."):
		name, err := patternName(host[2:])
		if err != nil {
			return r, err
		}
		r.suffix = "." + name
	case strings.Contains(host, "*"):
		return r, fmt.Errorf("%w: a wildcard is only allowed as a leading \"*.\"", ErrInvalidPattern)
	case host != "" && endsInNumber(host):
		ip, err := netip.ParseAddr(host)
		if err != nil || !ip.Is4() {
			return r, fmt.Errorf("%w: IPv4 literals must be dotted quads", ErrInvalidPattern)
		}
		r.ip = ip
	default:
		name, err := patternName(host)
		if err != nil {
			return r, err
		}
		r.name = name
	}
	return r, nil
}

// splitPatternHostPort splits host[:port], where host may be bracketed IPv6.
func splitPatternHostPort(s string) (string, int, error) {
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return "", 0, fmt.Errorf("%w: unterminated IPv6 literal", ErrInvalidPattern)
		}
		host, port = s[:end+1], s[end+1:]
		if port != "" && port[0] != ':' {
			return "", 0, fmt.Errorf("%w: junk after IPv6 literal", ErrInvalidPattern)
		}
		port = strings.TrimPrefix(port, ":")
		if port == "" && strings.HasSuffix(s, ":") {
			return "", 0, fmt.Errorf("%w: empty port", ErrInvalidPattern)
		}
	} else if i := strings.IndexByte(s, ':'); i >= 0 {
		host, port = s[:i], s[i+1:]
		if port == "" {
			return "", 0, fmt.Errorf("%w: empty port", ErrInvalidPattern)
		}
	}
	if !strings.HasPrefix(host, "[") && strings.ContainsAny(host, "[]") {
		return "", 0, fmt.Errorf("%w: misplaced bracket", ErrInvalidPattern)
	}
	if port == "" {
		return host, 0, nil
	}
	n, ok := parsePort(port)
	if !ok {
		return "", 0, fmt.Errorf("%w: port must be 1-65535", ErrInvalidPattern)
	}
	return host, n, nil
}

// patternName validates a DNS name in a pattern: one trailing dot allowed,
// no numeric last label (that would be an address, not a name).
func patternName(s string) (string, error) {
	s = strings.TrimSuffix(s, ".")
	if s == "" || endsInNumber(s) || !validName(s) {
		return "", fmt.Errorf("%w: invalid DNS name", ErrInvalidPattern)
	}
	return s, nil
}

// parsePort parses a decimal port 1–65535 (digits only, no sign).
func parsePort(s string) (int, bool) {
	if s == "" || len(s) > 5 || strings.Trim(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, false
	}
	return n, true
}

// Allow reports whether u's scheme, canonical host and port match a pattern.
// It is false for anything but an absolute http or https URL without
// userinfo.
func (h *HostList) Allow(u *url.URL) bool {
	if h == nil || u == nil || u.User != nil || u.Opaque != "" {
		return false
	}
	t, ok := targetOf(u)
	if !ok {
		return false
	}
	for _, r := range h.rules {
		if r.matches(t) {
			return true
		}
	}
	return false
}

// target is what a URL is matched on.
type target struct {
	scheme string
	name   string
	ip     netip.Addr
	port   int
}

func targetOf(u *url.URL) (target, bool) {
	t := target{scheme: strings.ToLower(u.Scheme)}
	switch t.scheme {
	case "http":
		t.port = 80
	case "https":
		t.port = 443
	default:
		return t, false
	}
	name, ip, err := canonicalHost(u.Hostname())
	if err != nil {
		return t, false
	}
	t.name, t.ip = name, ip
	if p := u.Port(); p != "" {
		n, ok := parsePort(p)
		if !ok {
			return t, false
		}
		t.port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return t, false
	}
	return t, true
}

func (r hostRule) matches(t target) bool {
	if r.scheme != "" && r.scheme != t.scheme {
		return false
	}
	if r.port != 0 && r.port != t.port {
		return false
	}
	switch {
	case r.ip.IsValid():
		return t.ip == r.ip
	case r.suffix != "":
		return t.name != "" && strings.HasSuffix(t.name, r.suffix)
	default:
		return t.name != "" && t.name == r.name
	}
}
