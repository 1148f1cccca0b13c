package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"
)

// DefaultTimeout bounds a whole SMTP exchange when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// Config is the operator's relay configuration (DESIGN §6 "mail").
type Config struct {
	// Relay is the submission server, host:port.
	Relay string
	// From is the envelope sender and From header, a plain address.
	From string
	// Timeout bounds the whole exchange, dial to QUIT; zero is
	// DefaultTimeout.
	Timeout time.Duration
	// Hostname is the name announced in EHLO; empty is "localhost".
	Hostname string
	// TLS, if set, is used for STARTTLS (for a relay whose certificate is
	// signed by a private CA). Nil verifies against the system roots.
	// ServerName defaults to the relay's host; MinVersion is raised to
	// TLS 1.2.
	TLS *tls.Config
}

// Send validates m, checks every recipient against allow, and submits the
// message to cfg.Relay. A refused message (ErrInvalid, ErrRecipient) never
// opens a connection; a relay that cannot take it is ErrUnavailable.
func Send(ctx context.Context, cfg Config, allow *Recipients, m Message) error {
	to, err := m.check(allow)
	if err != nil {
		return err
	}
	relayHost, from, hostname, timeout, err := cfg.check()
	if err != nil {
		return err
	}
	msg := build(from, to, m.Subject, m.Body, time.Now())

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", cfg.Relay)
	if err != nil {
		return unavailable(ctx, "connect", err)
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		return unavailable(ctx, "connect", err)
	}
	// Cancellation unblocks any read or write in progress.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, relayHost)
	if err != nil {
		return unavailable(ctx, "greeting", err)
	}
	defer c.Close()
	if err := c.Hello(hostname); err != nil {
		return unavailable(ctx, "EHLO", err)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(cfg.tlsConfig(relayHost)); err != nil {
			return unavailable(ctx, "STARTTLS", err)
		}
	}
	if err := c.Mail(from); err != nil {
		return unavailable(ctx, "MAIL FROM", err)
	}
	for _, rcpt := range to {
		if err := c.Rcpt(rcpt); err != nil {
			return unavailable(ctx, "RCPT TO", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return unavailable(ctx, "DATA", err)
	}
	if _, err := w.Write(msg); err != nil {
		return unavailable(ctx, "DATA", err)
	}
	if err := w.Close(); err != nil {
		return unavailable(ctx, "end of DATA", err)
	}
	// The relay has accepted the message; a failed QUIT does not undo that.
	_ = c.Quit()
	return nil
}

// check validates the operator's configuration and returns the relay's host
// (for TLS), the sender, the EHLO name and the timeout.
func (cfg Config) check() (relayHost, from, hostname string, timeout time.Duration, err error) {
	relayHost, _, err = net.SplitHostPort(cfg.Relay)
	if err != nil || relayHost == "" {
		return "", "", "", 0, fmt.Errorf("mail: %w: relay is not host:port", ErrUnavailable)
	}
	if _, problem := parseAddress(cfg.From); problem != "" {
		return "", "", "", 0, fmt.Errorf("mail: %w: configured sender: %s", ErrUnavailable, problem)
	}
	hostname = cfg.Hostname
	if hostname == "" {
		hostname = "localhost"
	}
	if problem := checkDomain(hostname); problem != "" {
		return "", "", "", 0, fmt.Errorf("mail: %w: configured hostname: %s", ErrUnavailable, problem)
	}
	timeout = cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return relayHost, cfg.From, hostname, timeout, nil
}

func (cfg Config) tlsConfig(relayHost string) *tls.Config {
	t := &tls.Config{}
	if cfg.TLS != nil {
		t = cfg.TLS.Clone()
	}
	if t.ServerName == "" {
		t.ServerName = relayHost
	}
	if t.MinVersion < tls.VersionTLS12 {
		t.MinVersion = tls.VersionTLS12
	}
	return t
}

// unavailable wraps a failure of step as ErrUnavailable. The message names
// the step and the relay's reply code only, never its text (which may echo
// addresses or content back); the cause is kept for errors.Is/As, and the
// context's error too when it ended the exchange.
func unavailable(ctx context.Context, step string, err error) error {
	detail := "failed"
	var te *textproto.Error
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("mail: %w: %s: %w", ErrUnavailable, step, ctx.Err())
	case errors.As(err, &te):
		detail = fmt.Sprintf("relay replied %d", te.Code)
	case isTimeout(err):
		detail = "timed out"
	case strings.Contains(step, "connect"):
		detail = "relay unreachable"
	}
	return &sendError{step: step, detail: detail, cause: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// sendError is an ErrUnavailable whose cause is not printed.
type sendError struct {
	step, detail string
	cause        error
}

func (e *sendError) Error() string {
	return "mail: " + ErrUnavailable.Error() + ": " + e.step + ": " + e.detail
}

func (e *sendError) Unwrap() []error { return []error{ErrUnavailable, e.cause} }
