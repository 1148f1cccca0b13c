package mail

import (
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// FuzzCompileRecipients: whatever the pattern, compiling never panics; a
// compiled exact pattern allows itself; and an allowed address is always one
// plain address that net/mail reads back unchanged, with nothing that could
// break out of an SMTP command or a header line.
func FuzzCompileRecipients(f *testing.F) {
	for _, s := range []string{
		"ops@example.org", "*@example.org", "*", "*@*.example.org", "Ops <ops@example.org>",
		"a%b@example.org", `"a"@example.org`, "a@[127.0.0.1]", "*@example.org.", "a@b@c", "",
	} {
		f.Add(s, "ops@example.org")
	}
	f.Fuzz(func(t *testing.T, pattern, addr string) {
		r, err := CompileRecipients([]string{pattern})
		if err != nil {
			return
		}
		if !strings.HasPrefix(pattern, "*@") && !r.Allow(pattern) {
			t.Fatalf("exact pattern %q does not allow itself", pattern)
		}
		if d, ok := strings.CutPrefix(pattern, "*@"); ok && !r.Allow("x@"+d) {
			t.Fatalf("pattern %q does not allow x@%s", pattern, d)
		}
		for _, a := range []string{addr, pattern} {
			if !r.Allow(a) {
				continue
			}
			if strings.ContainsAny(a, "\r\n\x00 <>,;:\"%!") {
				t.Fatalf("pattern %q allows %q", pattern, a)
			}
			if p, err := mail.ParseAddress(a); err != nil || p.Address != a || p.Name != "" {
				t.Fatalf("pattern %q allows %q, which net/mail reads as %v, %v", pattern, a, p, err)
			}
		}
	})
}

// FuzzBuild: any subject and body that pass validation build a message whose
// header section is exactly the eight headers Send writes, whose subject
// decodes back to the input, and whose body decodes back to the input with
// line endings normalised to CRLF.
func FuzzBuild(f *testing.F) {
	f.Add("hello", "body\n.\r\nMAIL FROM:<x@y>\r\n")
	f.Add("Bcc: evil@evil.test", "")
	f.Add(strings.Repeat("é", 300), "\r\r\n\n =\t\n")
	f.Fuzz(func(t *testing.T, subject, body string) {
		m := Message{To: []string{"a@example.org"}, Subject: subject, Body: body}
		to, err := m.check(mustCompile(t, "*@example.org"))
		if err != nil {
			return
		}
		raw := build("airlock@example.org", to, subject, body, time.Unix(0, 0))
		for _, line := range strings.Split(string(raw), "\r\n") {
			if len(line) > 998 || strings.ContainsAny(line, "\r\n") {
				t.Fatalf("bad line %q", line)
			}
		}
		msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Header) != 8 || len(msg.Header["Subject"]) != 1 {
			t.Fatalf("header section %v", msg.Header)
		}
		got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil || got != subject {
			t.Fatalf("subject %q decodes to %q, %v", subject, got, err)
		}
		decoded, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(body, "\r\n", "\n"), "\r", "\n"), "\n", "\r\n")
		if string(decoded) != want && string(decoded) != want+"\r\n" {
			t.Fatalf("body %q decodes to %q", body, decoded)
		}
	})
}
