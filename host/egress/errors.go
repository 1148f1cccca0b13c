package egress

import "errors"

// Errors returned by this package, always wrapped as "egress: …". Test with
// errors.Is.
var (
	// ErrAddressRefused: the address being dialled is loopback, private,
	// link-local, metadata or otherwise not public, and not opened by
	// egress.allow_private.
	ErrAddressRefused = errors.New("address refused")
	// ErrHostNotAllowed: the URL's scheme, host or port is not in the grant's
	// host list (checked again on every redirect).
	ErrHostNotAllowed = errors.New("host not allowed")
	// ErrBadRequest: malformed URL, userinfo, unsupported scheme or method,
	// forbidden or malformed header, unparsable redirect.
	ErrBadRequest = errors.New("bad request")
	// ErrTooLarge: request body, request headers or response body over the
	// cap.
	ErrTooLarge = errors.New("too large")
	// ErrTooManyRedirects: more redirects than Config.MaxRedirects.
	ErrTooManyRedirects = errors.New("too many redirects")
	// ErrTimeout: the whole exchange took longer than Config.Timeout or the
	// caller's deadline.
	ErrTimeout = errors.New("timeout")
	// ErrUpstream: the connection, TLS handshake or HTTP exchange with an
	// allowed destination failed.
	ErrUpstream = errors.New("upstream failed")
	// ErrInvalidPattern: a caps.http.hosts pattern or an allow_private CIDR
	// does not follow the grammar.
	ErrInvalidPattern = errors.New("invalid pattern")
)

// guardError is a classified failure: kind is one of the sentinels, detail a
// short non-secret message (never an address, URL, header or body), cause the
// underlying error for errors.Is/As only; it is not printed.
type guardError struct {
	kind   error
	detail string
	cause  error
}

func (e *guardError) Error() string {
	s := "egress: " + e.kind.Error()
	if e.detail != "" {
		s += ": " + e.detail
	}
	return s
}

func (e *guardError) Unwrap() []error {
	if e.cause == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.cause}
}

// refused is an ErrAddressRefused naming the category of the address, never
// the address, so that a tool does not learn what an internal name resolves
// to.
func refused(reason string) *guardError {
	return &guardError{kind: ErrAddressRefused, detail: reason}
}
