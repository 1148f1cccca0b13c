package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testConfig(relay string) Config {
	return Config{Relay: relay, From: "airlock@example.org", Hostname: "airlock.test", Timeout: time.Minute}
}

func mustCompile(t testing.TB, patterns ...string) *Recipients {
	t.Helper()
	r, err := CompileRecipients(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSendDelivers(t *testing.T) {
	srv := newSMTPServer(t, nil)
	allow := mustCompile(t, "*@example.org", "boss@corp.test")
	m := Message{
		To:      []string{"team@example.org", "Boss@Corp.test", "team@example.org"},
		Subject: "Weekly report — ünïcode",
		Body:    "line one\nline two\r\n.a line starting with a dot\n\nnon-ASCII: ß 日本 \nlast",
	}
	if err := Send(context.Background(), testConfig(srv.addr), allow, m); err != nil {
		t.Fatal(err)
	}
	got := srv.envelopes()
	if len(got) != 1 {
		t.Fatalf("relay received %d messages, want 1", len(got))
	}
	env := got[0]
	if env.helo != "airlock.test" {
		t.Errorf("EHLO %q", env.helo)
	}
	if !strings.HasPrefix(env.from, "<airlock@example.org>") {
		t.Errorf("MAIL FROM %q", env.from)
	}
	if want := []string{"team@example.org", "Boss@Corp.test"}; !reflect.DeepEqual(env.to, want) {
		t.Errorf("RCPT TO %q, want %q (duplicates dropped)", env.to, want)
	}

	msg, err := mail.ReadMessage(strings.NewReader(env.data))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	for key, want := range map[string]string{
		"From":                      "airlock@example.org",
		"To":                        "team@example.org, Boss@Corp.test",
		"Mime-Version":              "1.0",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
	} {
		if got := h.Get(key); got != want {
			t.Errorf("%s: %q, want %q", key, got, want)
		}
	}
	if len(h) != 8 {
		t.Errorf("headers %v, want exactly 8", h)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil || subject != m.Subject {
		t.Errorf("Subject decodes to %q, %v; want %q", subject, err, m.Subject)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.org>") {
		t.Errorf("Message-ID %q", id)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	want := "line one\r\nline two\r\n.a line starting with a dot\r\n\r\nnon-ASCII: ß 日本 \r\nlast\r\n"
	if string(body) != want {
		t.Errorf("body %q, want %q", body, want)
	}
}

func TestSendRefusesWithoutConnecting(t *testing.T) {
	allow := mustCompile(t, "*@example.org", "boss@corp.test")
	ok := Message{To: []string{"team@example.org"}, Subject: "hi", Body: "hello"}
	with := func(f func(m *Message)) Message {
		m := ok
		m.To = append([]string(nil), ok.To...)
		f(&m)
		return m
	}
	many := make([]string, MaxRecipients+1)
	for i := range many {
		many[i] = "r" + string(rune('a'+i)) + "@example.org"
	}
	tests := []struct {
		name     string
		ownAllow bool // use allow below instead of the shared list
		allow    *Recipients
		cfg      func(c *Config)
		m        Message
		err      error
	}{
		{name: "mail to a recipient outside the list",
			m: with(func(m *Message) { m.To = []string{"attacker@evil.test"} }), err: ErrRecipient},
		{name: "one of several recipients outside the list",
			m: with(func(m *Message) { m.To = append(m.To, "attacker@evil.test") }), err: ErrRecipient},
		{name: "subdomain of an allowed domain",
			m: with(func(m *Message) { m.To = []string{"a@evil.example.org"} }), err: ErrRecipient},
		{name: "lookalike domain sharing a suffix",
			m: with(func(m *Message) { m.To = []string{"a@notexample.org"} }), err: ErrRecipient},
		{name: "exact address with a different local part",
			m: with(func(m *Message) { m.To = []string{"bossy@corp.test"} }), err: ErrRecipient},
		{name: "empty allowlist", ownAllow: true, allow: &Recipients{}, m: ok, err: ErrRecipient},
		{name: "nil allowlist", ownAllow: true, allow: nil, m: ok, err: ErrRecipient},
		{name: "percent hack relays through an allowed domain",
			m: with(func(m *Message) { m.To = []string{"victim%evil.test@example.org"} }), err: ErrInvalid},
		{name: "bang path relays through an allowed domain",
			m: with(func(m *Message) { m.To = []string{"evil.test!victim@example.org"} }), err: ErrInvalid},
		{name: "display name smuggling another address",
			m: with(func(m *Message) { m.To = []string{`"team@example.org" <attacker@evil.test>`} }), err: ErrInvalid},
		{name: "two addresses in one recipient",
			m: with(func(m *Message) { m.To = []string{"team@example.org, attacker@evil.test"} }), err: ErrInvalid},
		{name: "quoted local part hiding an @",
			m: with(func(m *Message) { m.To = []string{`"attacker@evil.test"@example.org`} }), err: ErrInvalid},
		{name: "source route",
			m: with(func(m *Message) { m.To = []string{"@evil.test:team@example.org"} }), err: ErrInvalid},
		{name: "CRLF in a recipient injects an SMTP command",
			m:   with(func(m *Message) { m.To = []string{"team@example.org>\r\nRCPT TO:<attacker@evil.test"} }),
			err: ErrInvalid},
		{name: "header injection in subject by CRLF",
			m: with(func(m *Message) { m.Subject = "hi\r\nBcc: attacker@evil.test" }), err: ErrInvalid},
		{name: "header injection in subject by bare LF",
			m: with(func(m *Message) { m.Subject = "hi\nBcc: attacker@evil.test" }), err: ErrInvalid},
		{name: "header injection in subject by bare CR",
			m: with(func(m *Message) { m.Subject = "hi\rBcc: attacker@evil.test" }), err: ErrInvalid},
		{name: "NUL in subject", m: with(func(m *Message) { m.Subject = "hi\x00" }), err: ErrInvalid},
		{name: "subject over 998 bytes",
			m: with(func(m *Message) { m.Subject = strings.Repeat("s", MaxSubjectBytes+1) }), err: ErrInvalid},
		{name: "subject not UTF-8", m: with(func(m *Message) { m.Subject = "\xff" }), err: ErrInvalid},
		{name: "body over 256 KiB",
			m: with(func(m *Message) { m.Body = strings.Repeat("b", MaxBodyBytes+1) }), err: ErrInvalid},
		{name: "body not UTF-8", m: with(func(m *Message) { m.Body = "\xc3\x28" }), err: ErrInvalid},
		{name: "no recipients", m: with(func(m *Message) { m.To = nil }), err: ErrInvalid},
		{name: "too many recipients", m: with(func(m *Message) { m.To = many }), err: ErrInvalid},
		{name: "sender configured with a display name",
			cfg: func(c *Config) { c.From = "Airlock <airlock@example.org>" }, m: ok, err: ErrUnavailable},
		{name: "EHLO name with CRLF",
			cfg: func(c *Config) { c.Hostname = "a\r\nMAIL FROM:<x@y>" }, m: ok, err: ErrUnavailable},
		{name: "relay not host:port", cfg: func(c *Config) { c.Relay = "127.0.0.1" }, m: ok, err: ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSMTPServer(t, nil)
			cfg := testConfig(srv.addr)
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			a := allow
			if tt.ownAllow {
				a = tt.allow
			}
			err := Send(context.Background(), cfg, a, tt.m)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Send = %v, want %v", err, tt.err)
			}
			if n := srv.conns.Load(); n != 0 {
				t.Fatalf("relay saw %d connections, want none", n)
			}
		})
	}
}

func TestSendSMTPInjectionInBody(t *testing.T) {
	srv := newSMTPServer(t, nil)
	body := "hello\r\n.\r\nMAIL FROM:<attacker@evil.test>\r\nRCPT TO:<attacker@evil.test>\r\nDATA\r\n" +
		"Subject: injected\r\n\r\nspam\r\n.\r\n..\r\n"
	m := Message{To: []string{"team@example.org"}, Subject: "hi", Body: body}
	if err := Send(context.Background(), testConfig(srv.addr), mustCompile(t, "*@example.org"), m); err != nil {
		t.Fatal(err)
	}
	got := srv.envelopes()
	if len(got) != 1 || !reflect.DeepEqual(got[0].to, []string{"team@example.org"}) {
		t.Fatalf("relay received %+v, want one message to team@example.org", got)
	}
	msg, err := mail.ReadMessage(strings.NewReader(got[0].data))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("Subject") != "hi" {
		t.Fatalf("Subject %q", msg.Header.Get("Subject"))
	}
	decoded, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil || string(decoded) != body {
		t.Fatalf("body %q, %v; want %q", decoded, err, body)
	}
}

func TestSendRelayFailures(t *testing.T) {
	allow := mustCompile(t, "*@example.org")
	m := Message{To: []string{"team@example.org", "gone@example.org"}, Subject: "secret subject", Body: "secret body"}
	tests := []struct {
		name      string
		configure func(s *smtpServer)
		down      bool
		notInErr  []string
	}{
		{name: "relay down", down: true},
		{name: "relay refuses service at greeting",
			configure: func(s *smtpServer) { s.greeting = "554 no service for you" },
			notInErr:  []string{"no service"}},
		{name: "relay rejects a recipient",
			configure: func(s *smtpServer) { s.rejectRcpt = map[string]bool{"gone@example.org": true} },
			notInErr:  []string{"gone@example.org", "no such user"}},
		{name: "relay offers STARTTLS with an untrusted certificate",
			configure: func(s *smtpServer) { s.tls = &tls.Config{Certificates: []tls.Certificate{selfSigned(t).cert}} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSMTPServer(t, tt.configure)
			if tt.down {
				srv.close()
			}
			err := Send(context.Background(), testConfig(srv.addr), allow, m)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Send = %v, want ErrUnavailable", err)
			}
			for _, s := range append(tt.notInErr, "secret", srv.addr) {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error %q reveals %q", err, s)
				}
			}
			if got := srv.envelopes(); len(got) != 0 {
				t.Fatalf("relay received %d messages, want none", len(got))
			}
		})
	}
}

func TestSendRelayStallsUntilCancelled(t *testing.T) {
	srv := newSMTPServer(t, func(s *smtpServer) { s.stall = true })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-srv.accepted
		cancel()
	}()
	err := Send(ctx, testConfig(srv.addr), mustCompile(t, "*@example.org"),
		Message{To: []string{"team@example.org"}, Subject: "hi", Body: "hello"})
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Send = %v, want ErrUnavailable and context.Canceled", err)
	}
}

func TestSendSTARTTLS(t *testing.T) {
	id := selfSigned(t)
	srv := newSMTPServer(t, func(s *smtpServer) { s.tls = &tls.Config{Certificates: []tls.Certificate{id.cert}} })
	cfg := testConfig(srv.addr)
	cfg.TLS = &tls.Config{RootCAs: id.pool}
	err := Send(context.Background(), cfg, mustCompile(t, "team@example.org"),
		Message{To: []string{"team@example.org"}, Subject: "hi", Body: "over TLS"})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.envelopes()
	if len(got) != 1 || !got[0].tls {
		t.Fatalf("relay received %+v, want one message over TLS", got)
	}
}

type tlsIdentity struct {
	cert tls.Certificate
	pool *x509.CertPool
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t *testing.T) tlsIdentity {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test relay"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tlsIdentity{cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool: pool}
}
