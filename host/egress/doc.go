// Package egress is the guarded HTTP client behind the http_request host
// function (DESIGN §3). It is Airlock's own client, never Extism's: every
// request a tool makes leaves the host through [Client.Do], and every TCP
// connection it opens goes through [Client.DialContext].
//
// A request is decided in three steps, each in one place:
//
//  1. Parse: the method must be one of GET HEAD POST PUT PATCH DELETE OPTIONS;
//     the URL must be absolute http or https with a host, no userinfo, and
//     printable ASCII only; the fragment is dropped (it never goes on the
//     wire). The host is canonicalised by [CanonicalHost]: any IPv4 spelling
//     that inet_aton accepts (127.1, 0x7f000001, 2130706433, 0177.0.0.1) becomes
//     its dotted-quad address and is never sent to DNS; IPv4-mapped IPv6
//     literals become IPv4; names are lowercased and lose a trailing dot.
//     Non-ASCII names are refused (IDNA is not supported; write punycode).
//  2. Allow: the canonical scheme, host and port must match the grant's
//     compiled caps.http.hosts list ([HostList]).
//  3. Dial: the connection is opened by a net.Dialer whose Control function
//     checks the address actually being connected against the
//     [AddressPolicy]. This is the only place an address is judged, so a name
//     that resolves (or re-resolves, DNS rebinding) to a private address is
//     refused, whatever the URL said.
//
// Redirects are followed by hand, at most Config.MaxRedirects of them, and
// every hop goes through the same three steps.
//
// # Host patterns
//
// A caps.http.hosts entry is
//
//	[http:// | https://] host [:port]
//
// where host is a DNS name ("api.github.com"), a wildcard "*." followed by a
// DNS name ("*.example.org" matches a.example.org and a.b.example.org but not
// example.org itself), a dotted-quad IPv4 literal, or a bracketed IPv6
// literal ("[2001:db8::1]"). Without a scheme, both http and https match.
// Without a port, any port matches; with one, the URL's port (or its scheme's
// default, 80 or 443) must equal it. Patterns are matched case-insensitively
// on the canonical host. Paths, userinfo, a bare "*" and anything else are
// errors when the list is compiled, never at call time.
//
// # Security
//
// Refused by default, whatever the host list says: unspecified, loopback,
// private, link-local (which holds the cloud metadata addresses
// 169.254.169.254 and fd00:ec2::254), CGNAT, benchmarking, documentation,
// IETF-reserved, multicast, broadcast and 240/4 addresses, and IPv6 forms that
// embed one of those in an IPv4 address (mapped, compatible, NAT64, 6to4,
// Teredo). The operator's egress.allow_private CIDRs open chosen ranges on
// purpose; unspecified, multicast and broadcast addresses and scoped (zoned)
// IPv6 addresses are never a destination and cannot be opened.
//
// The client ignores proxy settings from the environment, verifies TLS
// certificates, speaks HTTP/1.1 only, does not decompress bodies, and caps
// request bodies, response bodies and response headers, and the time of the
// whole exchange including redirects. Names under "localhost" are answered
// with 127.0.0.1 without asking DNS (RFC 6761), so they are refused unless
// loopback is opened.
//
// A redirect to another origin (scheme, host or port) carries only
// content-negotiation headers (Accept*, Content-*, Cache-Control, Pragma,
// User-Agent): credentials, cookies and custom headers, including any that a
// vault injected for the first host, never follow a redirect elsewhere.
//
// Errors are short and name no secret: at most the scheme, host and port of
// a refused URL, never its path or query, headers, body, or the address a
// name resolved to.
package egress
