// Package mail submits the messages of the mail_send host function
// (DESIGN §3) to the operator's SMTP relay (DESIGN §6).
//
// A send is decided in three steps, each in one place:
//
//  1. Compile: a grant's caps.mail.to patterns become [Recipients] once, when
//     the grant is loaded. A pattern is an exact address ("ops@example.org")
//     or "*@" followed by a domain ("*@example.org", that domain only, not
//     its subdomains). Anything else is an error then, never at send time.
//  2. Allow: every recipient must be one plain address (no display name,
//     group, comment, quoted local part or route) and match a pattern;
//     addresses and domains compare case-insensitively.
//  3. Send: the message is validated (1 to [MaxRecipients] recipients,
//     subject at most [MaxSubjectBytes] without CR or LF, body at most
//     [MaxBodyBytes], both UTF-8), built as an RFC 5322 text/plain message in
//     quoted-printable, and submitted with net/smtp: EHLO, STARTTLS when the
//     relay offers it, MAIL FROM, RCPT TO, DATA, QUIT.
//
// # Security
//
// Nothing touches the network until the whole message has been validated
// and every recipient allowed: a refused message opens no connection.
//
// Header injection is impossible by construction: recipients are restricted
// to printable ASCII without separators, the subject may not hold CR, LF or
// NUL and is RFC 2047-encoded whenever it is not short printable ASCII, the
// sender comes from the operator's configuration, and the body is
// quoted-printable, so no tool byte reaches the header section or the SMTP
// command stream verbatim. The percent hack and bang paths
// ("victim%evil.example@example.org", "evil!victim@example.org") are refused
// so that an allowed domain's relay cannot be asked to forward elsewhere.
//
// When the relay offers STARTTLS the session is upgraded and the relay's
// certificate is verified (system roots, or Config.TLS); a failure refuses
// the send rather than falling back to plain text. A relay that does not offer
// STARTTLS is spoken to in plain text: point Config.Relay at a trusted local
// relay. The whole exchange is bounded by Config.Timeout and the caller's
// context.
//
// Errors name the step that failed and the relay's reply code, never the
// subject, the body, or the relay's reply text.
package mail
