package egress

import (
	"fmt"
	"net/netip"
)

// AddressPolicy decides which resolved IPs may be dialled. Build it with
// [NewAddressPolicy]; a nil *AddressPolicy is the default policy (nothing
// opened).
type AddressPolicy struct {
	open []netip.Prefix
}

// NewAddressPolicy parses the operator's egress.allow_private CIDRs strictly:
// each entry must be a CIDR in canonical form ("10.0.0.0/8", not "10.0.0.1/8"
// or a bare address), and IPv4 ranges must be written as IPv4, not as
// IPv4-mapped IPv6.
func NewAddressPolicy(allowPrivate []string) (*AddressPolicy, error) {
	p := &AddressPolicy{}
	for _, s := range allowPrivate {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("egress: allow_private %q is not a CIDR: %w", s, ErrInvalidPattern)
		}
		if pfx.Addr().Is4In6() {
			return nil, fmt.Errorf("egress: allow_private %q: write IPv4 ranges as IPv4: %w", s, ErrInvalidPattern)
		}
		if pfx != pfx.Masked() {
			return nil, fmt.Errorf("egress: allow_private %q has host bits set (did you mean %s?): %w",
				s, pfx.Masked(), ErrInvalidPattern)
		}
		p.open = append(p.open, pfx)
	}
	return p, nil
}

// Check refuses (ErrAddressRefused) unless ip is globally routable public
// unicast or inside an allow_private prefix. IPv4-mapped addresses are
// unmapped first; IPv6 forms that embed an IPv4 address are refused when the
// embedded address is. Unspecified, multicast, broadcast and zoned addresses
// are refused even inside an allow_private prefix.
func (p *AddressPolicy) Check(ip netip.Addr) error {
	if reason := p.refusal(ip); reason != "" {
		return refused(reason)
	}
	return nil
}

// refusal returns why ip is refused, or "" when it may be dialled.
func (p *AddressPolicy) refusal(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid address"
	}
	if ip.Zone() != "" {
		return "scoped address"
	}
	ip = ip.Unmap()
	for _, r := range never {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	if p.opened(ip) {
		return ""
	}
	if ip.Is4() {
		return lookup(ipv4Refused, ip)
	}
	return p.refusal6(ip)
}

func (p *AddressPolicy) opened(ip netip.Addr) bool {
	if p == nil {
		return false
	}
	for _, pfx := range p.open {
		if pfx.Contains(ip) {
			return true
		}
	}
	return false
}

// refusal6 judges an IPv6 address that is neither mapped nor opened.
func (p *AddressPolicy) refusal6(ip netip.Addr) string {
	if ip == netip.IPv6Loopback() {
		return "loopback" // also inside ::/96, but not an embedding
	}
	for _, e := range embeddings {
		if !e.prefix.Contains(ip) {
			continue
		}
		for _, v4 := range e.extract(ip.As16()) {
			if reason := p.refusal(v4); reason != "" {
				return e.name + " embedding " + reason
			}
		}
		// The embedded IPv4 addresses are public: the form decides.
		return e.verdict
	}
	if reason := lookup(ipv6Refused, ip); reason != "" {
		return reason
	}
	if !globalUnicast6.Contains(ip) {
		return "not global unicast"
	}
	return ""
}

type rangeRule struct {
	prefix netip.Prefix
	reason string
}

func lookup(rules []rangeRule, ip netip.Addr) string {
	for _, r := range rules {
		if r.prefix.Contains(ip) {
			return r.reason
		}
	}
	return ""
}

func rules(pairs ...string) []rangeRule {
	out := make([]rangeRule, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, rangeRule{netip.MustParsePrefix(pairs[i]), pairs[i+1]})
	}
	return out
}

// never lists what is never a destination, whatever allow_private says.
var never = rules(
	"0.0.0.0/8", "unspecified",
	"::/128", "unspecified",
	"224.0.0.0/4", "multicast",
	"ff00::/8", "multicast",
	"255.255.255.255/32", "broadcast",
)

// ipv4Refused follows the IANA IPv4 special-purpose address registry.
var ipv4Refused = rules(
	"10.0.0.0/8", "private",
	"100.64.0.0/10", "shared address space (CGNAT)",
	"127.0.0.0/8", "loopback",
	"169.254.0.0/16", "link-local (metadata)",
	"172.16.0.0/12", "private",
	"192.0.0.0/24", "IETF protocol assignments",
	"192.0.2.0/24", "documentation",
	"192.88.99.0/24", "6to4 relay anycast",
	"192.168.0.0/16", "private",
	"198.18.0.0/15", "benchmarking",
	"198.51.100.0/24", "documentation",
	"203.0.113.0/24", "documentation",
	"240.0.0.0/4", "reserved",
)

// ipv6Refused follows the IANA IPv6 special-purpose address registry, for
// addresses that do not embed IPv4 (those are in embeddings).
var ipv6Refused = rules(
	"100::/64", "discard-only",
	"2001::/23", "IETF protocol assignments",
	"2001:db8::/32", "documentation",
	"3fff::/20", "documentation",
	"5f00::/16", "segment routing",
	"fc00::/7", "unique local (private)",
	"fe80::/10", "link-local",
	"fec0::/10", "site-local",
)

var globalUnicast6 = netip.MustParsePrefix("2000::/3")

// embedding is an IPv6 form that carries IPv4 addresses. When every embedded
// address is acceptable, verdict decides ("" allows).
type embedding struct {
	name    string
	prefix  netip.Prefix
	extract func(b [16]byte) []netip.Addr
	verdict string
}

func v4(b []byte) netip.Addr { return netip.AddrFrom4([4]byte(b)) }

var embeddings = []embedding{
	{
		// RFC 6052 well-known NAT64 prefix: what an IPv6-only network uses to
		// reach public IPv4, so public embedded addresses are fine.
		name: "NAT64", prefix: netip.MustParsePrefix("64:ff9b::/96"),
		extract: func(b [16]byte) []netip.Addr { return []netip.Addr{v4(b[12:16])} },
	},
	{
		// RFC 8215 local-use NAT64: the translator is local by definition,
		// and the embedding depends on its chosen prefix length.
		name: "local-use NAT64", prefix: netip.MustParsePrefix("64:ff9b:1::/48"),
		extract: func(b [16]byte) []netip.Addr { return []netip.Addr{v4(b[12:16])} },
		verdict: "local-use NAT64",
	},
	{
		// RFC 3056 6to4: the IPv4 address is bits 16–47.
		name: "6to4", prefix: netip.MustParsePrefix("2002::/16"),
		extract: func(b [16]byte) []netip.Addr { return []netip.Addr{v4(b[2:6])} },
	},
	{
		// RFC 4380 Teredo: the server is bits 32–63, the client is the last
		// 32 bits inverted.
		name: "Teredo", prefix: netip.MustParsePrefix("2001::/32"),
		extract: func(b [16]byte) []netip.Addr {
			client := [4]byte{^b[12], ^b[13], ^b[14], ^b[15]}
			return []netip.Addr{v4(b[4:8]), netip.AddrFrom4(client)}
		},
	},
	{
		// RFC 4291 IPv4-compatible ::a.b.c.d: deprecated and never routed,
		// refused even when the embedded address is public.
		name: "IPv4-compatible", prefix: netip.MustParsePrefix("::/96"),
		extract: func(b [16]byte) []netip.Addr { return []netip.Addr{v4(b[12:16])} },
		verdict: "deprecated IPv4-compatible",
	},
}
