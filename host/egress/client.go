package egress

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/airlock-dev/airlock/abi"
)

// Defaults applied by [NewClient] to zero Config fields.
const (
	DefaultMaxRequestBytes  = 1 << 20
	DefaultMaxResponseBytes = 4 << 20
	DefaultTimeout          = 10 * time.Second
	DefaultMaxRedirects     = 5
)

// Fixed caps on what a tool may put in a request line and headers, and on
// what a server may send back as headers.
const (
	maxURLBytes            = 8 << 10
	maxHeaders             = 64
	maxHeaderBytes         = 64 << 10
	maxResponseHeaderBytes = 64 << 10
	userAgent              = "airlock-egress/1"
)

// Config sets the caps of a [Client]. Zero fields take the defaults.
type Config struct {
	// Policy judges every dialled address; nil refuses every non-public one.
	Policy *AddressPolicy
	// MaxRequestBytes caps the request body; default 1 MiB.
	MaxRequestBytes int64
	// MaxResponseBytes caps the response body; default 4 MiB.
	MaxResponseBytes int64
	// Timeout bounds the whole exchange, redirects and body included;
	// default 10s.
	Timeout time.Duration
	// MaxRedirects is how many redirects are followed; default 5, negative
	// follows none (the first redirect fails with ErrTooManyRedirects).
	MaxRedirects int
	// Logger receives refusals and failures (host names and categories only,
	// never URLs, headers or bodies); nil discards.
	Logger *slog.Logger
}

// Client is the guarded HTTP client. It is safe for concurrent use and keeps
// a pool of idle connections, each opened through the policy-checked dialer.
type Client struct {
	policy       *AddressPolicy
	maxReq       int64
	maxResp      int64
	timeout      time.Duration
	maxRedirects int
	log          *slog.Logger
	dialer       *net.Dialer
	transport    *http.Transport
}

// NewClient builds a Client from cfg, filling in defaults.
func NewClient(cfg Config) *Client {
	c := &Client{
		policy:       cfg.Policy,
		maxReq:       cfg.MaxRequestBytes,
		maxResp:      cfg.MaxResponseBytes,
		timeout:      cfg.Timeout,
		maxRedirects: cfg.MaxRedirects,
		log:          cfg.Logger,
	}
	if c.policy == nil {
		c.policy = &AddressPolicy{}
	}
	if c.maxReq <= 0 {
		c.maxReq = DefaultMaxRequestBytes
	}
	if c.maxResp <= 0 {
		c.maxResp = DefaultMaxResponseBytes
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	switch {
	case c.maxRedirects == 0:
		c.maxRedirects = DefaultMaxRedirects
	case c.maxRedirects < 0:
		c.maxRedirects = 0
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.dialer = &net.Dialer{
		Timeout:   c.timeout,
		KeepAlive: 30 * time.Second,
		Control:   c.control,
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	c.transport = &http.Transport{
		Proxy:                  nil, // never from the environment
		DialContext:            c.DialContext,
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    c.timeout,
		Protocols:              protocols,
		DisableCompression:     true,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        30 * time.Second,
		MaxResponseHeaderBytes: maxResponseHeaderBytes,
	}
	return c
}

// CloseIdleConnections closes pooled connections that are not in use.
func (c *Client) CloseIdleConnections() { c.transport.CloseIdleConnections() }

// Result carries the answer and byte counts (for egress budgets).
type Result struct {
	Response abi.HTTPResponse
	// BytesSent approximates what the tool put on the wire over all hops:
	// request lines, headers and bodies (TLS framing excluded).
	BytesSent int64
	// BytesRecv counts the response body bytes read.
	BytesRecv int64
	// FinalURL is the canonical URL of the last hop.
	FinalURL string
}

var allowedMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// Do performs req for a tool whose grant allows hosts: parse and
// canonicalise, check the host list, dial through the address policy, follow
// redirects re-checking each hop, and read the response under the caps.
func (c *Client) Do(ctx context.Context, req abi.HTTPRequest, hosts *HostList) (*Result, error) {
	if !allowedMethods[req.Method] {
		return nil, fmt.Errorf("egress: %w: method must be one of GET HEAD POST PUT PATCH DELETE OPTIONS", ErrBadRequest)
	}
	u, err := parseURL(req.URL)
	if err != nil {
		return nil, err
	}
	header, err := buildHeader(req.Headers)
	if err != nil {
		return nil, err
	}
	if int64(len(req.Body)) > c.maxReq {
		return nil, fmt.Errorf("egress: %w: request body over %d bytes", ErrTooLarge, c.maxReq)
	}
	if err := c.allow(ctx, hosts, u); err != nil {
		return nil, err
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	res := &Result{}
	method, body := req.Method, req.Body
	for redirects := 0; ; redirects++ {
		resp, err := c.roundTrip(ctx, method, u, header, body, res)
		if err != nil {
			return nil, err
		}
		loc := resp.Header.Get("Location")
		if !isRedirect(resp.StatusCode) || loc == "" {
			return c.finish(ctx, u, resp, res)
		}
		_ = resp.Body.Close()
		if redirects >= c.maxRedirects {
			return nil, fmt.Errorf("egress: %w (limit %d)", ErrTooManyRedirects, c.maxRedirects)
		}
		next, err := resolveRedirect(u, loc)
		if err != nil {
			return nil, err
		}
		if err := c.allow(ctx, hosts, next); err != nil {
			return nil, err
		}
		method, body, header = redirectRequest(resp.StatusCode, method, body, header, sameOrigin(u, next))
		u = next
	}
}

// allow asks the host list about u, a canonical URL from parseURL.
func (c *Client) allow(ctx context.Context, hosts *HostList, u *url.URL) error {
	if hosts.Allow(u) {
		return nil
	}
	c.log.LogAttrs(ctx, slog.LevelInfo, "egress host not allowed",
		slog.String("scheme", u.Scheme), slog.String("host", u.Host))
	return fmt.Errorf("egress: %w: %s://%s", ErrHostNotAllowed, u.Scheme, u.Host)
}

func (c *Client) roundTrip(ctx context.Context, method string, u *url.URL, header http.Header, body []byte, res *Result) (*http.Response, error) {
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("egress: %w: cannot build request", ErrBadRequest)
	}
	hreq.Header = header.Clone()
	if hreq.Header.Get("User-Agent") == "" {
		hreq.Header.Set("User-Agent", userAgent)
	}
	res.BytesSent += wireSize(hreq, len(body))
	resp, err := c.transport.RoundTrip(hreq)
	if err != nil {
		return nil, c.fail(ctx, u.Host, err)
	}
	return resp, nil
}

// finish reads the final response under the cap and flattens its headers.
func (c *Client) finish(ctx context.Context, u *url.URL, resp *http.Response, res *Result) (*Result, error) {
	defer func() { _ = resp.Body.Close() }()
	if resp.ContentLength > c.maxResp && resp.Request.Method != http.MethodHead {
		return nil, fmt.Errorf("egress: %w: response body over %d bytes", ErrTooLarge, c.maxResp)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.maxResp+1))
	res.BytesRecv += int64(len(body))
	if err != nil {
		return nil, c.fail(ctx, u.Host, err)
	}
	if int64(len(body)) > c.maxResp {
		return nil, fmt.Errorf("egress: %w: response body over %d bytes", ErrTooLarge, c.maxResp)
	}
	headers := make(map[string]string, len(resp.Header))
	for k, vs := range resp.Header {
		headers[http.CanonicalHeaderKey(k)] = strings.Join(vs, ", ")
	}
	res.Response = abi.HTTPResponse{Status: resp.StatusCode, Headers: headers, Body: body}
	res.FinalURL = u.String()
	return res, nil
}

// DialContext opens a TCP connection through the address policy: the
// address actually connected to, after any DNS resolution, must pass
// [AddressPolicy.Check]. Numeric hosts are canonicalised as in
// [CanonicalHost] and never resolved; localhost names are 127.0.0.1.
func (c *Client) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, fmt.Errorf("egress: %w: network %q is not TCP", ErrBadRequest, network)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("egress: %w: address is not host:port", ErrBadRequest)
	}
	if _, ok := parsePort(port); !ok {
		return nil, fmt.Errorf("egress: %w: port must be 1-65535", ErrBadRequest)
	}
	name, ip, err := canonicalHost(host)
	if err != nil {
		return nil, err
	}
	switch {
	case ip.IsValid():
		host = ip.String()
	case isLocalhost(name):
		host = "127.0.0.1"
	default:
		host = name
	}
	conn, err := c.dialer.DialContext(ctx, network, net.JoinHostPort(host, port))
	if err != nil {
		return nil, c.fail(ctx, host, err)
	}
	return conn, nil
}

// control runs after resolution, before connect: the one place where an
// address is judged.
func (c *Client) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return refused("unparsable address")
	}
	return c.policy.Check(ap.Addr())
}

// fail classifies a transport error. A refusal keeps its category; anything
// else loses its text (which may carry addresses) in favour of a short
// description, and is logged for the operator at debug level.
func (c *Client) fail(ctx context.Context, host string, err error) error {
	var ge *guardError
	if errors.As(err, &ge) {
		if errors.Is(ge, ErrAddressRefused) {
			c.log.LogAttrs(ctx, slog.LevelInfo, "egress address refused",
				slog.String("host", host), slog.String("reason", ge.detail))
		}
		return ge
	}
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &ne) && ne.Timeout():
		return &guardError{kind: ErrTimeout, cause: err}
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("egress: %w", context.Canceled)
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "egress upstream failure",
		slog.String("host", host), slog.String("error", err.Error()))
	return &guardError{kind: ErrUpstream, detail: describe(err), cause: err}
}

func describe(err error) string {
	var (
		verr *tls.CertificateVerificationError
		rerr tls.RecordHeaderError
		derr *net.DNSError
		oerr *net.OpError
	)
	switch {
	case errors.As(err, &verr):
		return "TLS certificate not trusted"
	case errors.As(err, &rerr):
		return "TLS handshake failed"
	case errors.As(err, &derr):
		return "name not resolved"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &oerr) && oerr.Op == "dial":
		return "connect failed"
	default:
		return "request failed"
	}
}

// parseURL parses a tool's URL strictly and returns it rebuilt from its
// canonical parts: scheme, canonical host, port, path and query. The
// fragment is dropped; userinfo, other schemes, opaque forms, spaces,
// backslashes, control and non-ASCII bytes are refused.
func parseURL(raw string) (*url.URL, error) {
	if len(raw) > maxURLBytes {
		return nil, fmt.Errorf("egress: %w: URL longer than %d bytes", ErrBadRequest, maxURLBytes)
	}
	for i := 0; i < len(raw); i++ {
		if b := raw[i]; b <= ' ' || b >= 0x7f || b == '\\' {
			return nil, fmt.Errorf("egress: %w: URL must be printable ASCII without spaces or backslashes", ErrBadRequest)
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("egress: %w: malformed URL", ErrBadRequest)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("egress: %w: scheme must be http or https", ErrBadRequest)
	}
	if u.User != nil {
		return nil, fmt.Errorf("egress: %w: userinfo in URL", ErrBadRequest)
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, fmt.Errorf("egress: %w: URL needs a host", ErrBadRequest)
	}
	name, ip, err := canonicalHost(u.Hostname())
	if err != nil {
		return nil, err
	}
	host := name
	if ip.IsValid() {
		host = ip.String()
	}
	switch port := u.Port(); {
	case port != "":
		n, ok := parsePort(port)
		if !ok {
			return nil, fmt.Errorf("egress: %w: port must be 1-65535", ErrBadRequest)
		}
		host = net.JoinHostPort(host, strconv.Itoa(n))
	case strings.HasSuffix(u.Host, ":"):
		return nil, fmt.Errorf("egress: %w: empty port", ErrBadRequest)
	case ip.Is6():
		host = "[" + host + "]"
	}
	return &url.URL{
		Scheme:     u.Scheme,
		Host:       host,
		Path:       u.Path,
		RawPath:    u.RawPath,
		RawQuery:   u.RawQuery,
		ForceQuery: u.ForceQuery,
	}, nil
}

func isRedirect(status int) bool {
	switch status {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// resolveRedirect resolves a Location against the current URL and parses the
// result as strictly as a tool's URL.
func resolveRedirect(base *url.URL, loc string) (*url.URL, error) {
	ref, err := url.Parse(loc)
	if err != nil {
		return nil, fmt.Errorf("egress: %w: malformed redirect location", ErrBadRequest)
	}
	return parseURL(base.ResolveReference(ref).String())
}

// redirectRequest derives the next hop's method, body and headers. 301, 302
// and 303 turn into a GET without body (HEAD stays HEAD); 307 and 308 keep
// both. A hop to another origin keeps only content-negotiation headers.
func redirectRequest(status int, method string, body []byte, header http.Header, sameOrigin bool) (string, []byte, http.Header) {
	next := header.Clone()
	if status != http.StatusTemporaryRedirect && status != http.StatusPermanentRedirect {
		if method != http.MethodHead {
			method = http.MethodGet
		}
		body = nil
		for _, k := range []string{"Content-Type", "Content-Encoding", "Content-Language"} {
			next.Del(k)
		}
	}
	if !sameOrigin {
		for k := range next {
			if !crossOriginHeaders[k] {
				delete(next, k)
			}
		}
	}
	return method, body, next
}

// crossOriginHeaders are the only request headers that follow a redirect to
// another origin.
var crossOriginHeaders = map[string]bool{
	"Accept": true, "Accept-Encoding": true, "Accept-Language": true,
	"Cache-Control": true, "Content-Encoding": true, "Content-Language": true,
	"Content-Type": true, "Pragma": true, "User-Agent": true,
}

func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && a.Hostname() == b.Hostname() && effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if u.Scheme == "https" {
		return "443"
	}
	return "80"
}

// buildHeader validates a tool's headers: RFC 9110 token names, values
// without control characters, no duplicates after canonicalisation, and none
// of the headers the host or transport own.
func buildHeader(in map[string]string) (http.Header, error) {
	if len(in) > maxHeaders {
		return nil, fmt.Errorf("egress: %w: more than %d headers", ErrTooLarge, maxHeaders)
	}
	h := make(http.Header, len(in))
	total := 0
	for k, v := range in {
		if !validHeaderName(k) {
			return nil, fmt.Errorf("egress: %w: invalid header name", ErrBadRequest)
		}
		if !validHeaderValue(v) {
			return nil, fmt.Errorf("egress: %w: invalid value for header %q", ErrBadRequest, k)
		}
		ck := http.CanonicalHeaderKey(k)
		if forbiddenHeader(ck) {
			return nil, fmt.Errorf("egress: %w: header %q is set by the host", ErrBadRequest, ck)
		}
		if _, dup := h[ck]; dup {
			return nil, fmt.Errorf("egress: %w: duplicate header %q", ErrBadRequest, ck)
		}
		h[ck] = []string{v}
		total += len(ck) + len(v) + 4
	}
	if total > maxHeaderBytes {
		return nil, fmt.Errorf("egress: %w: headers over %d bytes", ErrTooLarge, maxHeaderBytes)
	}
	return h, nil
}

// forbiddenHeader reports the hop-by-hop and framing headers that only the
// transport may set.
func forbiddenHeader(canonical string) bool {
	switch canonical {
	case "Host", "Connection", "Transfer-Encoding", "Content-Length", "Upgrade", "Te", "Keep-Alive":
		return true
	}
	return strings.HasPrefix(canonical, "Proxy-")
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// wireSize approximates the bytes of an HTTP/1.1 request.
func wireSize(r *http.Request, bodyLen int) int64 {
	n := len(r.Method) + 1 + len(r.URL.RequestURI()) + len(" HTTP/1.1\r\n")
	n += len("Host: \r\n") + len(r.URL.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(": \r\n") + len(v)
		}
	}
	return int64(n + len("\r\n") + bodyLen)
}
