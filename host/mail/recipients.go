package mail

import (
	"fmt"
	"net/mail"
	"strings"
)

// Recipients is a grant's compiled caps.mail.to allowlist. A nil or empty
// Recipients allows nothing.
type Recipients struct {
	exact   map[string]bool // lower-case addresses
	domains map[string]bool // lower-case domains of "*@domain"
}

// CompileRecipients validates and compiles caps.mail.to patterns: an exact
// plain address or "*@domain". Any other pattern (a display name, a wildcard
// elsewhere, "*@*.example.org", a bare "*") is an error wrapping ErrInvalid.
func CompileRecipients(patterns []string) (*Recipients, error) {
	r := &Recipients{exact: map[string]bool{}, domains: map[string]bool{}}
	for _, p := range patterns {
		if d, ok := strings.CutPrefix(p, "*@"); ok {
			if problem := checkDomain(d); problem != "" {
				return nil, fmt.Errorf("mail: recipient pattern %q: %w: %s", p, ErrInvalid, problem)
			}
			r.domains[strings.ToLower(d)] = true
			continue
		}
		addr, problem := parseAddress(p)
		if problem == "" && strings.Contains(p, "*") {
			problem = `"*" is only allowed as "*@domain"`
		}
		if problem != "" {
			return nil, fmt.Errorf("mail: recipient pattern %q: %w: %s", p, ErrInvalid, problem)
		}
		r.exact[addr] = true
	}
	return r, nil
}

// Allow reports whether addr is one plain address that a pattern matches.
func (r *Recipients) Allow(addr string) bool {
	if r == nil {
		return false
	}
	a, problem := parseAddress(addr)
	if problem != "" {
		return false
	}
	if r.exact[a] {
		return true
	}
	return r.domains[a[strings.LastIndexByte(a, '@')+1:]]
}

// parseAddress checks that s is one plain address, "local@domain" and nothing
// else, and returns it lower-cased, or what is wrong with it.
//
// The local part is a dot-atom of printable ASCII: no quotes, spaces,
// comments, angle brackets, separators, percent signs or bangs; the domain is
// a DNS name. net/mail must parse s to exactly itself with no display name.
func parseAddress(s string) (addr, problem string) {
	if len(s) > 254 {
		return "", "address longer than 254 bytes"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f {
			return "", "space, control or non-ASCII character in address"
		}
		if strings.IndexByte(`"(),:;<>[\]%!`, c) >= 0 {
			return "", fmt.Sprintf("%q is not allowed in an address", c)
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at < 0 {
		return "", "not an address"
	}
	local, domain := s[:at], s[at+1:]
	if local == "" || len(local) > 64 {
		return "", "local part empty or longer than 64 bytes"
	}
	if strings.Contains(local, "@") {
		return "", "more than one @"
	}
	if problem := checkDomain(domain); problem != "" {
		return "", problem
	}
	parsed, err := mail.ParseAddress(s)
	if err != nil || parsed.Name != "" || parsed.Address != s {
		return "", "not a plain address"
	}
	return strings.ToLower(s), ""
}

// checkDomain checks that d is a DNS name: dot-separated labels of 1 to 63
// letters, digits and hyphens, not starting or ending with a hyphen, at most
// 253 bytes, no trailing dot.
func checkDomain(d string) string {
	if d == "" || len(d) > 253 {
		return "domain empty or longer than 253 bytes"
	}
	for label := range strings.SplitSeq(d, ".") {
		if label == "" || len(label) > 63 {
			return "domain label empty or longer than 63 bytes"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "domain label starts or ends with a hyphen"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return "domain holds a character other than letters, digits, hyphens and dots"
			}
		}
	}
	return ""
}
