package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"mime/quotedprintable"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits of one message.
const (
	// MaxRecipients caps the To list.
	MaxRecipients = 20
	// MaxSubjectBytes caps the subject (RFC 5322 line length).
	MaxSubjectBytes = 998
	// MaxBodyBytes caps the body before encoding.
	MaxBodyBytes = 256 << 10
)

// Message is what a tool asks to send. The sender is the operator's
// Config.From, never the tool's choice.
type Message struct {
	To      []string
	Subject string
	Body    string
}

// check validates m against allow and returns its recipients as given, in
// order, without duplicates. A malformed message is ErrInvalid; a well-formed
// recipient that allow does not match is ErrRecipient.
func (m Message) check(allow *Recipients) ([]string, error) {
	if len(m.To) == 0 || len(m.To) > MaxRecipients {
		return nil, fmt.Errorf("mail: %w: between 1 and %d recipients", ErrInvalid, MaxRecipients)
	}
	seen := map[string]bool{}
	to := make([]string, 0, len(m.To))
	for i, addr := range m.To {
		norm, problem := parseAddress(addr)
		if problem != "" {
			return nil, fmt.Errorf("mail: %w: recipient %d: %s", ErrInvalid, i, problem)
		}
		if !allow.Allow(addr) {
			return nil, fmt.Errorf("mail: %w: %s", ErrRecipient, addr)
		}
		if !seen[norm] {
			seen[norm] = true
			to = append(to, addr)
		}
	}
	switch {
	case len(m.Subject) > MaxSubjectBytes:
		return nil, fmt.Errorf("mail: %w: subject longer than %d bytes", ErrInvalid, MaxSubjectBytes)
	case strings.ContainsAny(m.Subject, "\r\n\x00"):
		return nil, fmt.Errorf("mail: %w: CR, LF or NUL in subject", ErrInvalid)
	case !utf8.ValidString(m.Subject):
		return nil, fmt.Errorf("mail: %w: subject is not UTF-8", ErrInvalid)
	case len(m.Body) > MaxBodyBytes:
		return nil, fmt.Errorf("mail: %w: body longer than %d bytes", ErrInvalid, MaxBodyBytes)
	case strings.ContainsRune(m.Body, 0):
		return nil, fmt.Errorf("mail: %w: NUL in body", ErrInvalid)
	case !utf8.ValidString(m.Body):
		return nil, fmt.Errorf("mail: %w: body is not UTF-8", ErrInvalid)
	}
	return to, nil
}

// build renders the RFC 5322 message: CRLF line endings, headers in a fixed
// order, quoted-printable body. from and to are already validated plain
// addresses; subject and body have passed check.
func build(from string, to []string, subject, body string, now time.Time) []byte {
	var b bytes.Buffer
	b.WriteString("From: " + from + "\r\n")
	b.WriteString("To: " + strings.Join(to, ",\r\n ") + "\r\n")
	b.WriteString("Subject: " + encodeSubject(subject) + "\r\n")
	b.WriteString("Date: " + now.Format(time.RFC1123Z) + "\r\n")
	b.WriteString("Message-ID: <" + rand.Text() + "@" + from[strings.LastIndexByte(from, '@')+1:] + ">\r\n")
	b.WriteString("MIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: text/plain; charset=utf-8\r\n")
	b.WriteString("Content-Transfer-Encoding: quoted-printable\r\n")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(body)) // writes to a bytes.Buffer cannot fail
	qp.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// encodeSubject returns s unchanged when it is printable ASCII that fits on
// one short header line and neither starts nor ends with a space (which
// readers trim), and otherwise as RFC 2047 "B" encoded-words of at
// most 75 characters, one per folded line, split on rune boundaries.
func encodeSubject(s string) string {
	const plainMax = 78 - len("Subject: ")
	plain := len(s) <= plainMax && !strings.HasPrefix(s, " ") && !strings.HasSuffix(s, " ")
	for i := 0; plain && i < len(s); i++ {
		plain = s[i] >= ' ' && s[i] < 0x7f
	}
	if plain {
		return s
	}
	// "=?utf-8?b?" + base64(45 bytes = 60 chars) + "?=" is 72 characters.
	const chunk = 45
	var words []string
	for s != "" {
		n := min(chunk, len(s))
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n--
		}
		words = append(words, "=?utf-8?b?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	if len(words) == 0 {
		return ""
	}
	return strings.Join(words, "\r\n ")
}
