package mail

import "errors"

// Errors returned by this package, always wrapped as "mail: …". Test with
// errors.Is.
var (
	// ErrRecipient: a recipient is not allowed by the grant's caps.mail.to.
	ErrRecipient = errors.New("recipient not allowed")
	// ErrInvalid: a malformed message (recipient count or syntax, subject or
	// body too long or not UTF-8, CR/LF in the subject) or recipient pattern.
	ErrInvalid = errors.New("invalid")
	// ErrUnavailable: the relay could not be reached, refused the message, or
	// the exchange failed, timed out or was cancelled; also a relay
	// configuration that cannot be used.
	ErrUnavailable = errors.New("relay unavailable")
)
